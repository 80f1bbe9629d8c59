/**
 * The stats listener (DESIGN.md "Contract additions"): `/metrics` (Prometheus text or
 * OpenMetrics by `Accept`), `/healthz`, `/readyz`, and nothing else, so it can face the
 * network while `/config`, `/tenants` and purges stay on the loopback admin listener.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "./support/app.js";
import { baseConfig, makePki, send, startSidecar, type RunningSidecar } from "./support/mesh.js";
import { rawExchange } from "./support/raw.js";
import { eventually } from "./support/eventually.js";
import { STATS_MAX_CONNECTIONS } from "../src/admin/stats-server.js";

const OPENMETRICS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

let app: TestApp;
let sidecar: RunningSidecar;
let stats: string;

beforeAll(async () => {
  const pki = await makePki(["acme"], ["orders"]);
  app = await startApp();
  const config = baseConfig(pki, "orders", ["acme"], app.url);
  // A short head deadline, so the socket test below is quick.
  config["outbound"] = { listen: "127.0.0.1:0", upstreams: {}, timeouts: { headers: "300ms" } };
  sidecar = await startSidecar(config);
  stats = `http://127.0.0.1:${sidecar.sidecar.addresses().stats.port}`;
});

afterAll(async () => {
  await sidecar?.stop();
  await app?.close();
});

describe("metrics negotiation", () => {
  it("answers Prometheus text when Accept does not ask for OpenMetrics", async () => {
    const res = await send(undefined, `${stats}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain("# TYPE palisade_requests_total counter");
    expect(res.text).toMatch(/palisade_cert_expiry_timestamp_seconds\{tenant="acme"[^}]*\} \d+/);
    expect(res.text).not.toContain("# EOF");
  });

  it("answers OpenMetrics, counter families without _total and # EOF, to Prometheus' Accept", async () => {
    const res = await send(undefined, `${stats}/metrics`, {
      headers: { accept: OPENMETRICS_ACCEPT },
    });
    expect(res.headers["content-type"]).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(res.text.endsWith("# EOF\n")).toBe(true);
    expect(res.text).toContain("# TYPE palisade_config_reloads counter");
    expect(res.text).not.toContain("palisade_config_reloads_total_total");
  });

  it("an OpenMetrics scrape leaves the Prometheus text names alone (shared metric objects)", async () => {
    await send(undefined, `${stats}/metrics`, { headers: { accept: OPENMETRICS_ACCEPT } });
    const text = (await send(undefined, `${stats}/metrics`)).text;
    expect(text).toContain("# TYPE palisade_config_reloads_total counter");
    expect(text).not.toMatch(/^# TYPE palisade_config_reloads counter$/m);
  });

  it("text/plain ranked above OpenMetrics wins", async () => {
    const res = await send(undefined, `${stats}/metrics`, {
      headers: { accept: "application/openmetrics-text;q=0.3, text/plain;q=0.9" },
    });
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
  });
});

describe("only metrics and probes", () => {
  it("serves /healthz and /readyz, and HEAD without a body", async () => {
    expect((await send(undefined, `${stats}/healthz`)).status).toBe(200);
    expect((await send(undefined, `${stats}/readyz`)).text).toBe("ready\n");
    const head = await send(undefined, `${stats}/readyz`, { method: "HEAD" });
    expect([head.status, head.text]).toEqual([200, ""]);
  });

  it.each([
    ["GET", "/config"],
    ["GET", "/tenants"],
    ["POST", "/cache/purge?tenant=acme"],
    ["GET", "/"],
    ["GET", "/metrics/../config"],
  ])("%s %s is 404 on stats", async (method, path) => {
    const res = await send(undefined, `${stats}${path}`, { method });
    expect(res.status).toBe(404);
    expect(res.json()["error"]).toBe("not_found");
    expect(res.text).not.toContain("acme");
  });

  it("a POST to /metrics is 405 with Allow", async () => {
    const res = await send(undefined, `${stats}/metrics`, { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers["allow"]).toBe("GET, HEAD");
  });

  it("admin still serves /config and /tenants on loopback", async () => {
    const config = await send(undefined, `${sidecar.admin}/config`);
    expect(config.status).toBe(200);
    expect(config.json()["config"]).toMatchObject({ stats: { listen: "127.0.0.1:0" } });
    expect((await send(undefined, `${sidecar.admin}/tenants`)).status).toBe(200);
    const metrics = await send(undefined, `${sidecar.admin}/metrics`, {
      headers: { accept: OPENMETRICS_ACCEPT },
    });
    expect(metrics.text.endsWith("# EOF\n")).toBe(true);
  });
});

describe("socket hardening", () => {
  it("a connection that never sends a head is cut at the head deadline", async () => {
    const port = sidecar.sidecar.addresses().stats.port;
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((resolve) => socket.once("connect", resolve));
    const started = performance.now();
    // A partial head, then silence: closed by the deadline, not left open.
    const answer = await rawExchange(socket, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 5_000);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(answer).not.toContain("palisade_");
  });

  it("past STATS_MAX_CONNECTIONS a new connection is closed at accept, and one frees a slot", async () => {
    const port = sidecar.sidecar.addresses().stats.port;
    // Answered keep-alive connections stay open (idle deadline 60 s). Earlier tests' client
    // pool may hold a few, so open them one by one until the listener refuses one.
    const held: { socket: Socket; answer: string }[] = [];
    try {
      let refused: { socket: Socket; answer: string } | undefined;
      while (!refused && held.length <= STATS_MAX_CONNECTIONS) {
        const probe = await keepAliveProbe(port);
        if (probe.answer.startsWith("HTTP/1.1 200")) held.push(probe);
        else refused = probe;
      }
      refused?.socket.destroy();
      expect(refused?.answer).toBe("");
      expect(held.length).toBeLessThanOrEqual(STATS_MAX_CONNECTIONS);
      expect(held.length).toBeGreaterThan(STATS_MAX_CONNECTIONS - 10);
      held.pop()!.socket.destroy();
      await eventually(async () => {
        const next = await keepAliveProbe(port);
        next.socket.destroy();
        return next.answer.startsWith("HTTP/1.1 200");
      }, "a slot to free up");
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });
});

/** GET /healthz on a new keep-alive connection: the answer (or "" if closed), socket left open. */
function keepAliveProbe(port: number): Promise<{ socket: Socket; answer: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let answer = "";
    const done = () => resolve({ socket, answer });
    socket.setEncoding("latin1");
    socket.on("error", done);
    socket.on("close", done);
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (answer.includes("ok\n")) done();
    });
    socket.write("GET /healthz HTTP/1.1\r\nHost: stats\r\n\r\n");
  });
}

describe("drain", () => {
  it("stats answers /readyz 503 while draining, then closes with the rest", async () => {
    const pki = await makePki(["acme"], ["orders"]);
    const config = baseConfig(pki, "orders", ["acme"], app.url);
    config["drainDelay"] = "1s";
    const draining = await startSidecar(config);
    const url = `http://127.0.0.1:${draining.sidecar.addresses().stats.port}`;
    expect((await send(undefined, `${url}/readyz`)).status).toBe(200);
    const stopped = draining.stop();
    await eventually(
      async () => (await send(undefined, `${url}/readyz`)).status === 503,
      "/readyz 503 on stats while draining",
    );
    await stopped;
    const port = Number(new URL(url).port);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});
