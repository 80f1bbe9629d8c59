/**
 * HTTP/2 abuse on the inbound listener, with raw frames Node's client will not send. Each
 * attack is bounded (the stream or the session is refused), counted or logged, never
 * reaches the app, and the sidecar keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerResponse } from "node:http";
import { echo, startApp, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import {
  ERROR,
  FLAG,
  FRAME,
  field,
  frame,
  indexedField,
  RawH2,
  reference,
  requestBlock,
} from "./support/h2-frames.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  TRUST_DOMAIN,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

let pki: Pki;
let app: TestApp;
let orders: RunningSidecar;
let port: number;
const authority = `acme.orders.${TRUST_DOMAIN}`;

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders", "web"]);
  app = await startApp();
  const config = baseConfig(pki, "orders", ["acme"], app.url) as {
    inbound: Record<string, unknown>;
  };
  config.inbound["limits"] = {
    http2: { maxConcurrentStreams: 4, maxResets: 20, resetWindow: "10s" },
  };
  // Short, so the test sees sessions that never completed a request cut at the deadline.
  config.inbound["timeouts"] = { headers: "2s" };
  orders = await startSidecar(config);
  port = Number(new URL(orders.inbound).port);
});

afterAll(async () => {
  await orders?.stop();
  await app?.close();
});

async function open(): Promise<RawH2> {
  return RawH2.open(port, {
    cert: await pki.cert("acme", "web"),
    key: await pki.key("acme", "web"),
    ca: await pki.ca("acme"),
    servername: authority,
  });
}

function headers(stream: number, block: Buffer, flags = FLAG.END_HEADERS | FLAG.END_STREAM) {
  return frame(FRAME.HEADERS, flags, stream, block);
}

function rst(stream: number, code: number = ERROR.CANCEL) {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

async function metric(name: string, labels: string): Promise<number> {
  const text = (await send(undefined, `${orders.admin}/metrics`)).text;
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** The sidecar still answers an ordinary request after the attack. */
async function stillServing(): Promise<void> {
  const answer = await send(
    await tenantClient(pki, "acme", "web", "orders"),
    `${orders.inbound}/tenants/acme/alive`,
  );
  expect(answer.status).toBe(200);
}

const seen = (prefix: string) => app.seen.filter((s) => s.url.startsWith(prefix)).length;

describe("HTTP/2 abuse", () => {
  it("rapid-reset: a session resetting streams faster than allowed is closed and counted", async () => {
    const h2 = await open();
    const frames: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const stream = 1 + 2 * i;
      frames.push(
        headers(stream, requestBlock(`/tenants/acme/reset/${i}`, authority)),
        rst(stream),
      );
    }
    h2.write(...frames);
    await eventually(() => h2.closed, "the session closed");
    const goaway = h2.goaway();
    expect(goaway?.payload.readUInt32BE(4)).toBe(ERROR.ENHANCE_YOUR_CALM);
    expect(await metric("palisade_http2_sessions_closed_total", 'reason="rapid_reset"')).toBe(1);
    expect(
      orders.logs.some((l) => l.msg === "HTTP/2 session closed" && l["reason"] === "rapid_reset"),
    ).toBe(true);
    // Bounded: far fewer than the 200 streams did any work at the app.
    expect(seen("/tenants/acme/reset/")).toBeLessThan(200);
    await stillServing();
  });

  it("too-many-streams: a stream past SETTINGS_MAX_CONCURRENT_STREAMS ends the session", async () => {
    // The app holds these requests unanswered, so their streams stay open.
    const held: ServerResponse[] = [];
    app.handler = (req, res, body) => {
      if (req.url?.startsWith("/tenants/acme/held/")) held.push(res);
      else echo(req, res, body);
    };
    const h2 = await open();
    // Four streams the app never answers, so they stay open: the whole allowance.
    for (let i = 0; i < 4; i++)
      h2.write(headers(1 + 2 * i, requestBlock(`/tenants/acme/held/${i}`, authority)));
    await eventually(() => seen("/tenants/acme/held/") === 4, "four streams at the app");
    for (let i = 4; i < 8; i++)
      h2.write(headers(1 + 2 * i, requestBlock(`/tenants/acme/over/${i}`, authority)));
    // A peer that acknowledged the limit and exceeds it commits a connection error (RFC
    // 9113 §5.1.2): nghttp2 tears the session down, counted as a protocol error.
    await eventually(() => h2.closed, "the session closed");
    expect(
      await metric("palisade_http2_sessions_closed_total", 'reason="protocol_error"'),
    ).toBeGreaterThanOrEqual(1);
    expect(seen("/tenants/acme/over/")).toBe(0);
    h2.close();
    for (const res of held) res.end();
    app.handler = echo;
    await stillServing();
  });

  it("hpack-bomb: a small block that decodes past the header list cap is refused", async () => {
    const h2 = await open();
    // 4 KiB enters the dynamic table once; 30 one-byte references decode to 120 KiB.
    const block = Buffer.concat([
      requestBlock("/tenants/acme/bomb", authority),
      indexedField("x-bomb", "a".repeat(4096)),
      ...Array.from({ length: 30 }, () => reference(62)),
    ]);
    expect(block.length).toBeLessThan(4300);
    h2.write(headers(1, block));
    // nghttp2 gives up on the session (GOAWAY); the peer never completed a request, so the
    // head deadline cuts the connection: a session must survive that without a crash.
    await eventually(() => h2.goaway(), "GOAWAY");
    expect(h2.goaway()?.payload.readUInt32BE(4)).toBe(ERROR.COMPRESSION_ERROR);
    await eventually(() => h2.closed, "the connection cut at its deadline");
    expect(seen("/tenants/acme/bomb")).toBe(0);
    expect(
      orders.logs.some((l) => l.msg === "connection cut at its deadline" && l["stage"] === "head"),
    ).toBe(true);
    await stillServing();
  });

  it("continuation-flood: an endless header block is cut, not buffered", async () => {
    const h2 = await open();
    h2.write(headers(1, requestBlock("/tenants/acme/flood", authority), FLAG.END_STREAM));
    const continuation = frame(FRAME.CONTINUATION, 0, 1, field("x-flood", "b".repeat(200)));
    for (let i = 0; i < 50 && !h2.closed; i++)
      h2.write(...Array.from({ length: 100 }, () => continuation));
    await eventually(() => h2.closed, "the flooded session closed");
    expect(seen("/tenants/acme/flood")).toBe(0);
    expect(
      await metric("palisade_http2_sessions_closed_total", 'reason="continuation_flood"'),
    ).toBe(1);
    await stillServing();
  });

  it("connection-specific-header: RFC 9113 §8.2.2 fields reset the stream, the session lives", async () => {
    const h2 = await open();
    h2.write(
      headers(1, requestBlock("/tenants/acme/conn", authority, [["connection", "keep-alive"]])),
      headers(3, requestBlock("/tenants/acme/te", authority, [["te", "gzip"]])),
      headers(5, requestBlock("/tenants/acme/upgrade", authority, [["upgrade", "websocket"]])),
      headers(7, requestBlock("/tenants/acme/fine", authority)),
    );
    await eventually(() => seen("/tenants/acme/fine") === 1, "the valid stream served");
    await eventually(() => h2.resets().length >= 3, "three resets");
    expect(h2.resets()).toEqual([
      [1, ERROR.PROTOCOL_ERROR],
      [3, ERROR.PROTOCOL_ERROR],
      [5, ERROR.PROTOCOL_ERROR],
    ]);
    expect(
      seen("/tenants/acme/conn") + seen("/tenants/acme/te") + seen("/tenants/acme/upgrade"),
    ).toBe(0);
    h2.close();
  });
});
