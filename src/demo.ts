/**
 * `palisade demo` (what `npm start` runs): a two-service mesh on loopback with a dev PKI.
 *
 *   curl ──mTLS as acme──▶ web sidecar ──▶ web app ──▶ web sidecar (outbound)
 *        ──mTLS as acme──▶ orders sidecar ──▶ orders app
 *
 * The apps are deliberately naive: they trust `x-palisade-tenant`, which is exactly what
 * Palisade makes safe to do.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { request } from "undici";
import { Sidecar } from "./sidecar.js";
import { initDevPki } from "./tls/dev-pki.js";

const TENANTS = ["acme", "globex"];
const SERVICES = ["web", "orders", "cli"];
const TRUST_DOMAIN = "mesh.local";

export interface DemoOptions {
  dir?: string;
  /** 0: every listener on an ephemeral port (tests). Default 15000. */
  portBase?: number;
  log?: (line: string) => void;
}

/**
 * Every port the demo opens, as an offset from the base: each sidecar keeps a pod's layout
 * (admin +0, outbound +1, inbound +6), the orders sidecar 100 above the web one, the apps
 * between. Moving the base moves them all, e.g. off Istio's ports, which are the defaults.
 */
export const DEMO_PORT_OFFSETS = {
  webAdmin: 0,
  webOutbound: 1,
  webInbound: 6,
  ordersApp: 80,
  webApp: 81,
  ordersAdmin: 100,
  ordersOutbound: 101,
  ordersInbound: 106,
} as const;

export const DEFAULT_PORT_BASE = 15000;
/** The highest base that keeps every demo port at or below 65535. */
export const MAX_PORT_BASE = 65535 - Math.max(...Object.values(DEMO_PORT_OFFSETS));

export interface RunningDemo {
  curlLines: string[];
  pki: string;
  ports: Record<keyof typeof DEMO_PORT_OFFSETS, number>;
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const dir = resolve(options.dir ?? ".demo");
  const base = options.portBase ?? DEFAULT_PORT_BASE;
  if (!Number.isInteger(base) || base < 0 || base > MAX_PORT_BASE) {
    throw new RangeError(`port base ${base} is not 0 to ${MAX_PORT_BASE}`);
  }
  const port = (name: keyof typeof DEMO_PORT_OFFSETS) =>
    base === 0 ? 0 : base + DEMO_PORT_OFFSETS[name];
  const pki = join(dir, "pki");
  await initDevPki({
    out: pki,
    trustDomain: TRUST_DOMAIN,
    tenants: TENANTS,
    services: SERVICES,
    // Past check's 30-day expiry warning: a fresh demo starts without warnings.
    days: 90,
  });

  const closers: Array<() => Promise<void>> = [];
  try {
    return await startMesh(dir, pki, port, closers);
  } catch (err) {
    // A taken port half-way: close what was opened, so the process can exit with the error.
    await stopAll(closers);
    throw err;
  }
}

type PortOf = (name: keyof typeof DEMO_PORT_OFFSETS) => number;

async function startMesh(
  dir: string,
  pki: string,
  port: PortOf,
  closers: Array<() => Promise<void>>,
): Promise<RunningDemo> {
  const ordersApp = await listen(createServer(ordersHandler), port("ordersApp"), closers);
  const orders = await startSidecar(dir, "orders", {
    inbound: {
      listen: `127.0.0.1:${port("ordersInbound")}`,
      app: url(ordersApp),
      target: { path: "/tenants/{tenant}/**" },
    },
    outbound: { listen: `127.0.0.1:${port("ordersOutbound")}` },
    admin: { listen: `127.0.0.1:${port("ordersAdmin")}` },
    grants: [
      {
        id: "globex-reads-acme-reports",
        from: "globex",
        to: "acme",
        methods: ["GET"],
        paths: ["/tenants/acme/reports/**"],
        fields: ["id", "total"],
        expires: new Date(Date.now() + 365 * 86_400_000).toISOString(),
      },
    ],
  });
  closers.unshift(() => orders.stop());
  const ordersInbound = orders.addresses().inbound.port;

  let webOutbound = 0;
  const webApp = await listen(
    createServer((req, res) => void webHandler(req, res, webOutbound)),
    port("webApp"),
    closers,
  );
  const web = await startSidecar(dir, "web", {
    inbound: {
      listen: `127.0.0.1:${port("webInbound")}`,
      app: url(webApp),
      target: { path: "/tenants/{tenant}/**" },
    },
    outbound: {
      listen: `127.0.0.1:${port("webOutbound")}`,
      upstreams: {
        orders: {
          url: `https://127.0.0.1:${ordersInbound}`,
          target: { path: "/tenants/{tenant}/**" },
        },
      },
    },
    admin: { listen: `127.0.0.1:${port("webAdmin")}` },
  });
  closers.unshift(() => web.stop());
  webOutbound = web.addresses().outbound.port;

  const ports = {
    webAdmin: web.addresses().admin.port,
    webOutbound,
    webInbound: web.addresses().inbound.port,
    ordersApp: portOf(ordersApp),
    webApp: portOf(webApp),
    ordersAdmin: orders.addresses().admin.port,
    ordersOutbound: orders.addresses().outbound.port,
    ordersInbound,
  };
  return {
    curlLines: curls(pki, ports.webInbound, ordersInbound, ports.ordersAdmin),
    pki,
    ports,
    stop: () => stopAll(closers),
  };
}

/** Sidecars first (they drain towards the apps), then the apps. */
async function stopAll(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers.splice(0)) await close();
}

export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const demo = await startDemo(options);
  process.stdout.write(
    `\nPalisade demo mesh is up (dev PKI in ${demo.pki}). Try:\n\n${demo.curlLines.join("\n\n")}\n\nCtrl-C to stop.\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await demo.stop();
  return 0;
}

async function startSidecar(
  dir: string,
  service: string,
  config: Record<string, unknown>,
): Promise<Sidecar> {
  const file = join(dir, `${service}.yaml`);
  const tenants = Object.fromEntries(
    TENANTS.map((t) => [
      t,
      { ca: `pki/${t}/ca.crt`, cert: `pki/${t}/${service}.crt`, key: `pki/${t}/${service}.key` },
    ]),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(
    file,
    stringify({
      service,
      trustDomain: TRUST_DOMAIN,
      ...config,
      tenants,
      telemetry: { logs: { level: "warn" } },
    }),
  );
  return Sidecar.start({ configFile: file });
}

/** The orders app: returns the orders of the tenant Palisade says the request is for. */
function ordersHandler(req: IncomingMessage, res: ServerResponse): void {
  const tenant = req.headers["x-palisade-tenant"];
  const match = /^\/tenants\/([^/]+)\/(orders|reports)/.exec(req.url ?? "");
  const owner = match?.[1];
  const body = match
    ? match[2] === "reports"
      ? { id: `${owner}-q3`, total: 1234, customers: ["internal detail"], margin: 0.42 }
      : { tenant: owner, servedFor: tenant, orders: [{ id: `${owner}-1`, total: 99 }] }
    : { error: "not found" };
  const text = JSON.stringify(body);
  res.writeHead(match ? 200 : 404, { "content-type": "application/json" });
  res.end(text);
}

/** The web app: renders a dashboard by calling orders through its sidecar, passing the context on. */
async function webHandler(
  req: IncomingMessage,
  res: ServerResponse,
  outboundPort: number,
): Promise<void> {
  const tenant = String(req.headers["x-palisade-tenant"]);
  const context = String(req.headers["x-palisade-context"]);
  try {
    const upstream = await request(`http://127.0.0.1:${outboundPort}/tenants/${tenant}/orders`, {
      headers: { host: "orders", "x-palisade-context": context },
    });
    const orders: unknown = await upstream.body.json();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ dashboard: tenant, ordersStatus: upstream.statusCode, orders }));
  } catch (err) {
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: (err as Error).message }));
  }
}

function curls(pki: string, webPort: number, ordersPort: number, adminPort: number): string[] {
  const as = (tenant: string, host: string, port: number) =>
    `curl -s --cacert ${pki}/${tenant}/ca.crt --cert ${pki}/${tenant}/cli.crt --key ${pki}/${tenant}/cli.key ` +
    `--resolve ${host}:${port}:127.0.0.1`;
  return [
    `# 1. Same tenant, through both sidecars (web -> orders): 200\n` +
      `${as("acme", "acme.web.mesh.local", webPort)} https://acme.web.mesh.local:${webPort}/tenants/acme/dashboard`,
    `# 2. Cross-tenant: acme asks for globex's orders: 403 cross_tenant_denied\n` +
      `${as("acme", "acme.orders.mesh.local", ordersPort)} https://acme.orders.mesh.local:${ordersPort}/tenants/globex/orders`,
    `# 3. Spoofed tenant header: acme's certificate claiming globex: 403 tenant_context_mismatch\n` +
      `${as("acme", "acme.orders.mesh.local", ordersPort)} -H 'x-palisade-tenant: globex' https://acme.orders.mesh.local:${ordersPort}/tenants/globex/orders`,
    `# 4. A grant: globex may read acme's reports, projected to {id, total}: 200\n` +
      `${as("globex", "globex.orders.mesh.local", ordersPort)} https://globex.orders.mesh.local:${ordersPort}/tenants/acme/reports/q3`,
    `# The orders sidecar's metrics: denials and grant uses by tenant\ncurl -s http://127.0.0.1:${adminPort}/metrics | grep palisade_cross_tenant`,
  ];
}

/** Rejects on EADDRINUSE and the like, so a taken port is an error message, not a crash. */
function listen(
  server: Server,
  port: number,
  closers: Array<() => Promise<void>>,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      closers.push(() => {
        server.closeAllConnections();
        return new Promise<void>((done) => server.close(() => done()));
      });
      resolve(server);
    });
  });
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function url(server: Server): string {
  return `http://127.0.0.1:${portOf(server)}`;
}
