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

export interface RunningDemo {
  curlLines: string[];
  pki: string;
  ports: { webInbound: number; ordersInbound: number; ordersAdmin: number };
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const dir = resolve(options.dir ?? ".demo");
  const base = options.portBase ?? 15000;
  const port = (offset: number) => (base === 0 ? 0 : base + offset);
  const pki = join(dir, "pki");
  await initDevPki({
    out: pki,
    trustDomain: TRUST_DOMAIN,
    tenants: TENANTS,
    services: SERVICES,
    // Past check's 30-day expiry warning: a fresh demo starts without warnings.
    days: 90,
  });

  const ordersApp = await listen(createServer(ordersHandler), port(80));
  const orders = await startSidecar(dir, "orders", {
    inbound: {
      listen: `127.0.0.1:${port(106)}`,
      app: url(ordersApp),
      target: { path: "/tenants/{tenant}/**" },
    },
    outbound: { listen: `127.0.0.1:${port(101)}` },
    admin: { listen: `127.0.0.1:${port(100)}` },
    stats: { listen: `127.0.0.1:${port(120)}` },
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
  const ordersInbound = orders.addresses().inbound.port;

  let webOutbound = 0;
  const webApp = await listen(
    createServer((req, res) => void webHandler(req, res, webOutbound)),
    port(81),
  );
  const web = await startSidecar(dir, "web", {
    inbound: {
      listen: `127.0.0.1:${port(6)}`,
      app: url(webApp),
      target: { path: "/tenants/{tenant}/**" },
    },
    outbound: {
      listen: `127.0.0.1:${port(1)}`,
      upstreams: {
        orders: {
          url: `https://127.0.0.1:${ordersInbound}`,
          target: { path: "/tenants/{tenant}/**" },
        },
      },
    },
    admin: { listen: `127.0.0.1:${port(0)}` },
    stats: { listen: `127.0.0.1:${port(20)}` },
  });
  webOutbound = web.addresses().outbound.port;

  const curlLines = curls(
    pki,
    web.addresses().inbound.port,
    ordersInbound,
    orders.addresses().admin.port,
  );
  return {
    curlLines,
    pki,
    ports: {
      webInbound: web.addresses().inbound.port,
      ordersInbound,
      ordersAdmin: orders.addresses().admin.port,
    },
    async stop() {
      await Promise.all([web.stop(), orders.stop()]);
      for (const server of [webApp, ordersApp]) {
        server.closeAllConnections();
        server.close();
      }
    },
  };
}

export async function runDemo(): Promise<number> {
  const demo = await startDemo();
  process.stdout.write(
    `\nPalisade demo mesh is up (dev PKI in .demo/pki). Try:\n\n${demo.curlLines.join("\n\n")}\n\nCtrl-C to stop.\n`,
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

function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

function url(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
