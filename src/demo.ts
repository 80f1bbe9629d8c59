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
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { curls, ordersHandler, webHandler } from "./demo-apps.js";
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
 * (admin +0, outbound +1, inbound +6, stats +20), the orders sidecar 100 above the web one,
 * the apps between. Moving the base moves them all, e.g. off Istio's ports, which are the
 * defaults.
 */
export const DEMO_PORT_OFFSETS = {
  webAdmin: 0,
  webOutbound: 1,
  webInbound: 6,
  webStats: 20,
  ordersApp: 80,
  webApp: 81,
  ordersAdmin: 100,
  ordersOutbound: 101,
  ordersInbound: 106,
  ordersStats: 120,
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
    stats: { listen: `127.0.0.1:${port("ordersStats")}` },
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
    stats: { listen: `127.0.0.1:${port("webStats")}` },
  });
  closers.unshift(() => web.stop());
  webOutbound = web.addresses().outbound.port;

  const ports = {
    webAdmin: web.addresses().admin.port,
    webOutbound,
    webInbound: web.addresses().inbound.port,
    webStats: web.addresses().stats.port,
    ordersApp: portOf(ordersApp),
    webApp: portOf(webApp),
    ordersAdmin: orders.addresses().admin.port,
    ordersOutbound: orders.addresses().outbound.port,
    ordersInbound,
    ordersStats: orders.addresses().stats.port,
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
