/**
 * Unauthenticated resource exhaustion: connections that never finish a TLS handshake or a
 * request head, over real sockets against a real sidecar. Every socket, at every stage, has
 * a deadline (`timeouts.headers` from accept to request head, handshake included), is
 * destroyed on error, is cut by drain, and gives its file descriptor back.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import {
  baseConfig,
  makePki,
  send,
  tenantClient,
  startSidecar,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import {
  closedWithin,
  collectUntilClose,
  openTls,
  rawGet,
  type Credentials,
} from "./support/tls-client.js";

/** Short, so deadlines fire quickly; the bounds tests wait on are several times longer. */
const DEADLINE = "1s";
/** How long a test waits for a socket the sidecar should cut after `DEADLINE`. */
const CUT_WITHIN_MS = 10_000;

let stranger: Pki;
let app: TestApp;
let orders: RunningSidecar;
const sockets: Socket[] = [];

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = baseConfig(mesh.pki, "orders", ["acme"], app.url);
  const inbound = base["inbound"] as Record<string, unknown>;
  const outbound = base["outbound"] as Record<string, unknown>;
  inbound["timeouts"] = { headers: DEADLINE, idle: "2s" };
  outbound["timeouts"] = { headers: DEADLINE, idle: "2s" };
  return { ...base, ...extra };
}

const mesh = withMesh(["acme"], ["orders", "web"]);

beforeAll(async () => {
  // A well-formed SVID from a CA this sidecar does not trust.
  stranger = await makePki(["acme"], ["web"], { fresh: true });
  mesh.defer(() => rm(stranger.dir, { recursive: true, force: true }));
  app = await mesh.app();
  orders = await mesh.sidecar(config());
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  // Whatever a test opened, the sidecar gives every descriptor back.
  await eventually(async () => {
    const open = await orders.sidecar.openConnections();
    return open.inbound + open.outbound === 0;
  }, "all connections released");
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A TCP connection (from `localAddress`, if given) that is open once this resolves, kept for cleanup. */
function tcp(port: number, localAddress?: string): Promise<Socket> {
  const from = localAddress === undefined ? {} : { localAddress };
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ...from }, () => resolve(socket));
    socket.on("error", () => {});
    socket.once("error", reject);
    sockets.push(socket);
  });
}

/** The first bytes of a ClientHello whose record promises 512 bytes that never come. */
function halfClientHello(): Buffer {
  return Buffer.concat([
    Buffer.from("16030102000100 01fc0303".replace(/ /g, ""), "hex"),
    randomBytes(32),
  ]);
}

/** Writes `bytes` one at a time, `everyMs` apart, until the socket closes. */
function drip(socket: Socket, bytes: Buffer, everyMs = 100): void {
  let i = 0;
  // The sidecar cutting the socket mid-drip is the expected outcome, not an error.
  socket.on("error", () => {});
  const timer = setInterval(() => {
    if (socket.destroyed || i >= bytes.length) return clearInterval(timer);
    socket.write(bytes.subarray(i, ++i));
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

async function credentials(from: Pki = mesh.pki): Promise<Credentials> {
  return {
    cert: await from.cert("acme", "web"),
    key: await from.key("acme", "web"),
    ca: await mesh.pki.ca("acme"),
    servername: "acme.orders.mesh.local",
  };
}

async function handshakeFailures(reason: string, on: RunningSidecar = orders): Promise<number> {
  const metrics = await send(undefined, `${on.admin}/metrics`);
  const match = new RegExp(
    `palisade_tls_handshake_failures_total\\{reason="${reason}"[^}]*\\} (\\d+)`,
  ).exec(metrics.text);
  return Number(match?.[1] ?? 0);
}

/** `palisade_requests_total` for one status code, summed over directions and tenants. */
async function requests(code: string, on: RunningSidecar = orders): Promise<number> {
  const metrics = await send(undefined, `${on.admin}/metrics`);
  let total = 0;
  for (const m of metrics.text.matchAll(/^palisade_requests_total\{([^}]*)\} (\d+)/gm))
    if ((m[1] as string).includes(`code="${code}"`)) total += Number(m[2]);
  return total;
}

describe("inbound (mTLS) listener", () => {
  it("silent-tcp-connection is cut at the deadline and counted as handshake_timeout", async () => {
    const before = await handshakeFailures("handshake_timeout");
    const socket = await tcp(portOf(orders.inbound));
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
    expect(await handshakeFailures("handshake_timeout")).toBe(before + 1);
    expect(
      orders.logs.some(
        (l) => l.msg === "connection cut at its deadline" && l["stage"] === "handshake",
      ),
    ).toBe(true);
  });

  it("half-client-hello is cut at the deadline", async () => {
    const socket = await tcp(portOf(orders.inbound));
    socket.write(halfClientHello());
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
  });

  it("slow-drip-client-hello does not extend the deadline", async () => {
    const socket = await tcp(portOf(orders.inbound));
    // Far longer than the deadline: 200 bytes at 100 ms is 20 s of drip.
    drip(socket, Buffer.concat([halfClientHello(), randomBytes(160)]));
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
  });

  it("plain-http-to-tls-port (a TLS client error) is destroyed, not half-closed", async () => {
    const socket = await tcp(portOf(orders.inbound));
    socket.write(rawGet("/tenants/acme/x"));
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
  });

  it("unknown-sni refused in SNICallback is destroyed", async () => {
    const before = await handshakeFailures("no_sni_match");
    const socket = await tcp(portOf(orders.inbound));
    const tls = await import("node:tls");
    const client = tls.connect({
      socket,
      ...(await credentials()),
      servername: "nobody.orders.mesh.local",
      checkServerIdentity: () => undefined,
    });
    client.on("error", () => {});
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
    expect(await handshakeFailures("no_sni_match")).toBe(before + 1);
  });

  it("refused-client-cert (unknown CA) is destroyed at the handshake", async () => {
    const client = await openTls(portOf(orders.inbound), await credentials(stranger)).catch(
      () => undefined,
    );
    if (client) {
      sockets.push(client);
      expect(await closedWithin(client, CUT_WITHIN_MS)).toBe(true);
    }
    expect(await handshakeFailures("unknown_ca")).toBeGreaterThan(0);
  });

  it("handshake-then-silence is answered 408 request_timeout and closed", async () => {
    const client = await openTls(portOf(orders.inbound), await credentials());
    sockets.push(client);
    const collected = await collectUntilClose(client, CUT_WITHIN_MS);
    expect(collected.closed).toBe(true);
    expect(collected.text).toMatch(/^HTTP\/1\.1 408/);
    expect(collected.text).toContain('"error":"request_timeout"');
    // The deadline counts from accept (Node's own header timeout only from the handshake).
    expect(
      orders.logs.some(
        (l) =>
          l.msg === "connection cut at its deadline" &&
          l["stage"] === "head" &&
          l["listener"] === "inbound",
      ),
    ).toBe(true);
  });

  it("handshake-then-slow-drip-headers is cut at the deadline", async () => {
    const client = await openTls(portOf(orders.inbound), await credentials());
    sockets.push(client);
    drip(
      client,
      Buffer.from(`GET /tenants/acme/x HTTP/1.1\r\nHost: orders\r\n${"x-a: b\r\n".repeat(40)}`),
    );
    expect(await closedWithin(client, CUT_WITHIN_MS)).toBe(true);
    expect(app.seen.some((r) => r.url === "/tenants/acme/x")).toBe(false);
  });

  it("keep-alive connection left idle after a response is cut at the idle deadline", async () => {
    const client = await openTls(portOf(orders.inbound), await credentials());
    sockets.push(client);
    const answered = new Promise<string>((resolve) => {
      let text = "";
      client.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (text.includes("\r\n\r\n")) resolve(text);
      });
    });
    client.write(rawGet("/tenants/acme/ok"));
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    expect(await closedWithin(client, CUT_WITHIN_MS)).toBe(true);
  });

  it("keep-alive-then-slow-drip-next-head: bytes of a next request do not extend the idle deadline", async () => {
    const client = await openTls(portOf(orders.inbound), await credentials());
    sockets.push(client);
    let text = "";
    const answered = new Promise<void>((resolve) =>
      client.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (text.includes("\r\n\r\n")) resolve();
      }),
    );
    client.write(rawGet("/tenants/acme/first"));
    await answered;
    // 40 header lines at 100 ms: the head would take 30 s; the idle deadline is 2 s.
    drip(
      client,
      Buffer.from(`GET /tenants/acme/next HTTP/1.1\r\nHost: orders\r\n${"x-a: b\r\n".repeat(40)}`),
    );
    expect(await closedWithin(client, CUT_WITHIN_MS)).toBe(true);
    expect(app.seen.some((r) => r.url === "/tenants/acme/next")).toBe(false);
  });

  it("a well-behaved client is still served after the attacks", async () => {
    const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
    try {
      expect((await send(agent, `${orders.inbound}/tenants/acme/fine`)).status).toBe(200);
    } finally {
      await agent.close();
    }
  });
});

describe("outbound and admin listeners", () => {
  it("silent-tcp-connection on outbound is cut at the deadline", async () => {
    const socket = await tcp(portOf(orders.outbound));
    const collected = await collectUntilClose(socket, CUT_WITHIN_MS);
    expect(collected.closed).toBe(true);
  });

  it("slow-drip-headers on outbound is cut at the deadline", async () => {
    const socket = await tcp(portOf(orders.outbound));
    drip(socket, Buffer.from(`GET /x HTTP/1.1\r\nHost: billing\r\n${"x-a: b\r\n".repeat(40)}`));
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
  });

  it("slow-head-then-close-counted-twice: one 408, and the peer's close after it is no 400", async () => {
    const before = { timeout: await requests("408"), bad: await requests("400") };
    const socket = await tcp(portOf(orders.outbound));
    socket.write("GET /x HTTP/1.1\r\nHost: billing\r\nx-a: b\r\n");
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      // What most clients do on an answer they did not wait for: close their side.
      if (received.includes("\r\n\r\n")) socket.end();
    });
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    await eventually(async () => (await requests("408")) === before.timeout + 1, "408 counted");
    expect(await requests("400")).toBe(before.bad);
  });

  it("silent-tcp-connection on admin is cut at the deadline", async () => {
    const socket = await tcp(portOf(orders.admin));
    expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
    await eventually(
      async () => (await orders.sidecar.openConnections()).admin === 0,
      "admin connection released",
    );
  });
});

describe("pre-handshake connection cap", () => {
  it("pending-handshake-flood is refused over inbound.limits.pendingHandshakes and counted", async () => {
    const capped = await startSidecar(
      config({
        inbound: {
          ...(config()["inbound"] as Record<string, unknown>),
          timeouts: { headers: "60s" },
          limits: { pendingHandshakes: 4 },
        },
      }),
    );
    try {
      const port = portOf(capped.inbound);
      const flood = await Promise.all([1, 2, 3, 4].map(() => tcp(port)));
      await eventually(
        async () => (await capped.sidecar.openConnections()).inbound === 4,
        "4 pending handshakes",
      );
      const refused = await tcp(port);
      expect(await closedWithin(refused, CUT_WITHIN_MS)).toBe(true);
      expect(await handshakeFailures("pending_handshakes_limit", capped)).toBe(1);
      // Refused before any TLS work: not also counted as a failed handshake.
      expect(await handshakeFailures("handshake_error", capped)).toBe(0);
      expect(capped.logs.some((l) => l.msg === "pending handshake limit reached")).toBe(true);
      // The flood ends; handshakes are accepted again.
      for (const socket of flood) socket.destroy();
      await eventually(
        async () => (await capped.sidecar.openConnections()).inbound === 0,
        "flood released",
      );
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      try {
        expect((await send(agent, `${capped.inbound}/tenants/acme/ok`)).status).toBe(200);
      } finally {
        await agent.close();
      }
    } finally {
      await capped.stop();
    }
  });
});

describe("pre-handshake connection cap per peer address", () => {
  it("one-peer-pending-handshakes-locks-out-everyone: other peers still get in", async () => {
    const capped = await startSidecar(
      config({
        inbound: {
          ...(config()["inbound"] as Record<string, unknown>),
          timeouts: { headers: "60s" },
          // The per-address limit at its default (64), well under the listener's.
          limits: { pendingHandshakes: 128 },
        },
      }),
    );
    try {
      const port = portOf(capped.inbound);
      // The attacker from another loopback address (Linux routes all of 127/8 to lo), more
      // silent sockets than the whole listener's budget; the tenant's client from 127.0.0.1.
      const flood = await Promise.all(Array.from({ length: 150 }, () => tcp(port, "127.0.0.2")));
      // Every attacker socket is settled: held open by the sidecar, or refused and closed.
      await eventually(async () => {
        const refused = flood.filter((socket) => socket.closed).length;
        return refused + (await capped.sidecar.openConnections()).inbound === flood.length;
      }, "the flood accepted or refused");
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      try {
        expect((await send(agent, `${capped.inbound}/tenants/acme/ok`)).status).toBe(200);
      } finally {
        await agent.close();
      }
      // The attacker holds its 64; the other 86 were refused and counted.
      expect(flood.filter((socket) => socket.closed)).toHaveLength(86);
      expect(await handshakeFailures("pending_handshakes_per_address_limit", capped)).toBe(86);
      // Refused at accept: neither a failed handshake nor the listener-wide limit.
      expect(await handshakeFailures("handshake_error", capped)).toBe(0);
      expect(await handshakeFailures("pending_handshakes_limit", capped)).toBe(0);
      const burst = (msg: string) => capped.logs.filter((l) => l.msg === msg);
      expect(burst("pending handshake limit per address reached")).toHaveLength(1);
      expect(burst("pending handshake limit per address reached")[0]).toMatchObject({
        remote: "127.0.0.2",
        limit: 64,
      });
      // The burst ends with the attacker's last pending socket.
      for (const socket of flood) socket.destroy();
      await eventually(
        () => burst("pending handshakes from address back under the limit").length === 1,
        "the burst's end logged",
      );
    } finally {
      await capped.stop();
    }
  });
});

describe("drain", () => {
  it("drain-with-hostile-sockets: stop() cuts sockets at every stage and completes promptly", async () => {
    const draining = await startSidecar(
      config({
        drainTimeout: "30s",
        inbound: {
          ...(config()["inbound"] as Record<string, unknown>),
          timeouts: { headers: "60s" },
        },
        outbound: {
          ...(config()["outbound"] as Record<string, unknown>),
          timeouts: { headers: "60s" },
        },
      }),
    );
    const inbound = portOf(draining.inbound);
    const opened: Socket[] = [];
    for (let i = 0; i < 5; i++) opened.push(await tcp(inbound));
    for (let i = 0; i < 3; i++) {
      const half = await tcp(inbound);
      half.write(halfClientHello());
      opened.push(half);
    }
    const established = await openTls(inbound, await credentials());
    sockets.push(established);
    opened.push(established);
    for (let i = 0; i < 3; i++) opened.push(await tcp(portOf(draining.outbound)));
    for (let i = 0; i < 3; i++) opened.push(await tcp(portOf(draining.admin)));
    await eventually(async () => {
      const open = await draining.sidecar.openConnections();
      return open.inbound === 9 && open.outbound === 3 && open.admin === 3;
    }, "every hostile socket accepted");

    const started = Date.now();
    const stopped = await Promise.race([
      draining.stop().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
    ]);
    expect(stopped).toBe(true);
    // Nothing was in flight: drain did not wait for drainTimeout or the socket deadlines.
    expect(Date.now() - started).toBeLessThan(15_000);
    for (const socket of opened) expect(await closedWithin(socket, CUT_WITHIN_MS)).toBe(true);
    // drain-cut-counted-as-handshake-error: sockets drain cut are no failure of the peer's.
    const failures = await draining.sidecar.metrics.registry.getSingleMetricAsString(
      "palisade_tls_handshake_failures_total",
    );
    expect(failures).not.toMatch(/reason="handshake_error"[^}]*\} [1-9]/);
  });
});
