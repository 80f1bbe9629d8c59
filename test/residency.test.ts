/**
 * Residency through real sidecars. Outbound: a `web` sidecar in eu calls `orders`, which
 * runs in eu (two sidecars) and us (one), for acme (pinned to eu) and globex
 * (unrestricted). The us sidecar does not restrict acme itself, so only the outbound choice
 * keeps acme's calls away from it; each app counts what reached it. Failover moves on only
 * when nothing was sent (a dead port) or the call may safely repeat (a GET whose connection
 * was reset), never with a body an endpoint began to take. Inbound: a us sidecar refuses a
 * tenant pinned to eu, and serves another tenant's data there only under a grant whose
 * `regions` say so.
 */
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { startApp, type TestApp } from "./support/app.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

let pki: Pki;
const apps: Record<"eu1" | "eu2" | "us" | "strict", TestApp> = {} as never;
const sidecars: RunningSidecar[] = [];
let web: RunningSidecar;
let strict: RunningSidecar;
/** A TLS endpoint with a valid orders SVID that resets every connection once it has data. */
let resetter: TlsServer;
let resetterSawData = 0;
const agents: Agent[] = [];
const future = new Date(Date.now() + 30 * 86_400_000).toISOString();

/** An orders sidecar in `region`; `pinned` decides whether it restricts acme to eu itself. */
async function ordersIn(region: string, app: TestApp, pinned: boolean): Promise<RunningSidecar> {
  const config = baseConfig(pki, "orders", ["acme", "globex"], app.url);
  config["region"] = region;
  if (pinned) withRegions(config, "acme", ["eu"]);
  const sidecar = await startSidecar(config);
  sidecars.push(sidecar);
  return sidecar;
}

function withRegions(config: Record<string, unknown>, tenant: string, regions: string[]): void {
  (config["tenants"] as Record<string, Record<string, unknown>>)[tenant]!["regions"] = regions;
}

/** A loopback port nothing listens on: bound, then released. */
async function deadPort(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `https://127.0.0.1:${port}`;
}

async function startResetter(): Promise<string> {
  resetter = createTlsServer(
    {
      cert: await pki.cert("acme", "orders"),
      key: await pki.key("acme", "orders"),
      ca: await pki.ca("acme"),
      requestCert: true,
    },
    (socket) =>
      socket.once("data", () => {
        resetterSawData += 1;
        socket.destroy();
      }),
  );
  await new Promise<void>((resolve) => resetter.listen(0, "127.0.0.1", resolve));
  return `https://127.0.0.1:${(resetter.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders", "web", "cli"]);
  for (const name of ["eu1", "eu2", "us", "strict"] as const) apps[name] = await startApp();
  const eu1 = await ordersIn("eu", apps.eu1, true);
  const eu2 = await ordersIn("eu", apps.eu2, true);
  const us = await ordersIn("us", apps.us, false);
  const [dead, dead2, reset] = [await deadPort(), await deadPort(), await startResetter()];
  const at = (url: string, region: string) => ({ url, region });
  const upstream = (...endpoints: { url: string; region: string }[]) => ({
    endpoints,
    service: "orders",
    target: { path: "/tenants/{tenant}/**" },
  });
  const webConfig = baseConfig(pki, "web", ["acme", "globex"], apps.eu1.url);
  webConfig["region"] = "eu";
  withRegions(webConfig, "acme", ["eu"]);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    allowUnsignedTenant: true,
    upstreams: {
      // us first in config order: only residency and local-first ordering skip it.
      orders: upstream(at(us.inbound, "us"), at(eu1.inbound, "eu"), at(eu2.inbound, "eu")),
      failover: upstream(at(us.inbound, "us"), at(dead, "eu"), at(eu2.inbound, "eu")),
      flaky: upstream(at(reset, "eu"), at(eu2.inbound, "eu")),
      usonly: upstream(at(us.inbound, "us")),
      eudown: upstream(at(us.inbound, "us"), at(dead, "eu"), at(dead2, "eu")),
    },
  };
  web = await startSidecar(webConfig);
  sidecars.push(web);

  const strictConfig = baseConfig(pki, "orders", ["acme", "globex"], apps.strict.url);
  strictConfig["region"] = "us";
  withRegions(strictConfig, "acme", ["eu"]);
  const grant = { from: "globex", to: "acme", methods: ["GET"], expires: future };
  strictConfig["grants"] = [
    { ...grant, id: "reports-to-us", paths: ["/tenants/acme/reports/**"], regions: ["us"] },
    { ...grant, id: "invoices", paths: ["/tenants/acme/invoices/**"] },
  ];
  strict = await startSidecar(strictConfig);
  sidecars.push(strict);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  for (const sidecar of sidecars) await sidecar.stop();
  for (const app of Object.values(apps)) await app.close();
  resetter?.close();
});

/** The app's call through web's outbound listener, for `tenant`, to `upstream`. */
function call(tenant: string, upstream: string, path: string, method = "GET", body?: string) {
  return send(undefined, `${web.outbound}${path}`, {
    method,
    headers: { host: upstream, "x-palisade-tenant": tenant },
    ...(body === undefined ? {} : { body }),
  });
}

/** How many requests for `path` each app saw. */
function seen(path: string): Record<string, number> {
  return Object.fromEntries(
    Object.entries(apps).map(([name, app]) => [
      name,
      app.seen.filter((s) => s.url === path).length,
    ]),
  );
}

async function counter(sidecar: RunningSidecar, name: string, labels: string[]): Promise<number> {
  const text = (await send(undefined, `${sidecar.admin}/metrics`)).text;
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

function linesFor(sidecar: RunningSidecar, requestId: unknown) {
  return sidecar.logs.filter((l) => l["requestId"] === requestId);
}

describe("outbound: a tenant pinned to eu", () => {
  it("never reaches the us endpoint, though it is listed first; the nearest eu one answers", async () => {
    const path = "/tenants/acme/orders/pinned";
    for (let i = 0; i < 3; i++) expect((await call("acme", "orders", path)).status).toBe(200);
    expect(seen(path)).toEqual({ eu1: 3, eu2: 0, us: 0, strict: 0 });
    const answer = await call("acme", "orders", path);
    const access = linesFor(web, answer.headers["x-request-id"]).find((l) => l.log === "access");
    expect(access).toMatchObject({ upstream: "orders", region: "eu", status: 200 });
  });

  it("an unrestricted tenant goes local first too, and may use a us-only upstream", async () => {
    const path = "/tenants/globex/orders/free";
    expect((await call("globex", "orders", path)).status).toBe(200);
    expect((await call("globex", "usonly", path)).status).toBe(200);
    expect(seen(path)).toEqual({ eu1: 1, eu2: 0, us: 1, strict: 0 });
  });

  it("fails over within eu past a dead endpoint, body and all, and says which one failed", async () => {
    const path = "/tenants/acme/orders/failover";
    const answer = await call("acme", "failover", path, "POST", "order #1");
    expect(answer.status).toBe(200);
    expect(seen(path)).toEqual({ eu1: 0, eu2: 1, us: 0, strict: 0 });
    expect(apps.eu2.seen.at(-1)).toMatchObject({ method: "POST", body: "order #1" });
    const failed = linesFor(web, answer.headers["x-request-id"]).find(
      (l) => l.msg === "upstream endpoints unreachable",
    );
    expect(failed).toMatchObject({ tenant: "acme", upstream: "failover", answeredRegion: "eu" });
    expect(failed?.["failed"]).toEqual([
      expect.objectContaining({ region: "eu", error: "ECONNREFUSED" }),
    ]);
  });

  it("retries a GET whose connection was reset, but never resends a POST body once taken", async () => {
    const path = "/tenants/acme/orders/flaky";
    const post = await call("acme", "flaky", path, "POST", "charge once");
    expect(post.status).toBe(502);
    expect(post.json()).toMatchObject({ error: "upstream_unavailable" });
    expect(resetterSawData).toBe(1);
    expect(seen(path)).toEqual({ eu1: 0, eu2: 0, us: 0, strict: 0 });
    const get = await call("acme", "flaky", path);
    expect(get.status).toBe(200);
    expect(resetterSawData).toBe(2);
    expect(seen(path)).toEqual({ eu1: 0, eu2: 1, us: 0, strict: 0 });
  });

  it("is refused 403 residency_violation where the upstream has no eu endpoint, counted and audited", async () => {
    const path = "/tenants/acme/orders/us-only";
    const labels = ['direction="outbound"', 'tenant="acme"', 'reason="residency_violation"'];
    const before = await counter(web, "palisade_cross_tenant_denied_total", labels);
    const answer = await call("acme", "usonly", path);
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: "residency_violation" });
    expect(seen(path)).toEqual({ eu1: 0, eu2: 0, us: 0, strict: 0 });
    expect(await counter(web, "palisade_cross_tenant_denied_total", labels)).toBe(before + 1);
    const audit = linesFor(web, answer.headers["x-request-id"]).find((l) => l.log === "audit");
    expect(audit).toMatchObject({
      caller: "acme",
      reason: "residency_violation",
      decision: "deny",
    });
  });

  it("gets 502 upstream_unavailable when every eu endpoint is down, and still not us", async () => {
    const path = "/tenants/acme/orders/eu-down";
    const answer = await call("acme", "eudown", path);
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "upstream_unavailable" });
    expect(seen(path)).toEqual({ eu1: 0, eu2: 0, us: 0, strict: 0 });
    const lines = linesFor(web, answer.headers["x-request-id"]);
    expect(lines.find((l) => l.msg === "upstream endpoints unreachable")).toMatchObject({
      failedCount: 2,
    });
    expect(lines.find((l) => l.msg === "request refused")).toMatchObject({
      error: "upstream_unavailable",
    });
  });

  it("answers a POST whose every endpoint is down with a clean 502, its body never sent", async () => {
    const path = "/tenants/acme/orders/eu-down-post";
    const answer = await call("acme", "eudown", path, "POST", "x".repeat(1 << 20));
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "upstream_unavailable" });
    expect(seen(path)).toEqual({ eu1: 0, eu2: 0, us: 0, strict: 0 });
  });
});

describe("inbound: a us sidecar", () => {
  it("refuses a caller pinned to eu with 403 residency_violation, counted and audited", async () => {
    const acme = await tenantClient(pki, "acme", "cli", "orders");
    agents.push(acme);
    const path = "/tenants/acme/orders/1";
    const labels = ['direction="inbound"', 'tenant="acme"', 'reason="residency_violation"'];
    const answer = await send(acme, `${strict.inbound}${path}`);
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: "residency_violation" });
    expect(seen(path).strict).toBe(0);
    expect(await counter(strict, "palisade_cross_tenant_denied_total", labels)).toBe(1);
    const audit = linesFor(strict, answer.headers["x-request-id"]).find((l) => l.log === "audit");
    expect(audit).toMatchObject({ caller: "acme", target: "acme", reason: "residency_violation" });
  });

  it("serves eu-pinned data to another tenant only under a grant whose regions include us", async () => {
    const globex = await tenantClient(pki, "globex", "cli", "orders");
    agents.push(globex);
    const widened = await send(globex, `${strict.inbound}/tenants/acme/reports/q3`);
    expect(widened.status).toBe(200);
    const invoices = await send(globex, `${strict.inbound}/tenants/acme/invoices/7`);
    expect(invoices.status).toBe(403);
    expect(invoices.json()).toMatchObject({ error: "residency_violation" });
    expect(seen("/tenants/acme/invoices/7").strict).toBe(0);
    expect((await send(globex, `${strict.inbound}/tenants/globex/own`)).status).toBe(200);
  });
});
