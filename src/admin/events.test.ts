/**
 * `/events` over real sockets: a reader that stops reading is cut once its backlog passes
 * the bound (logged and counted), while a reader that keeps up receives every event.
 */
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { setImmediate as turn } from "node:timers/promises";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLiveView, MAX_BACKLOG_BYTES, type LiveView } from "../live/index.js";
import { label, record } from "../live/test-support.js";
import { eventually } from "../../test/support/eventually.js";
import { serveEvents } from "./events.js";

const registry = new Registry();
const warnings: string[] = [];
let live: LiveView;
let server: Server;
let port: number;

beforeAll(async () => {
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
  live = createLiveView({ label, now: () => Date.now(), registry, log });
  server = createServer((req, res) => {
    serveEvents(live, new URL(req.url ?? "/", "http://admin"), req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A raw client: `paused` ones read the head and then nothing more. */
async function subscribe(paused: boolean): Promise<{ socket: Socket; received: () => number }> {
  const socket = connect(port, "127.0.0.1");
  // Blank lines end an event (and the opening comment, hence -1); the previous chunk's last
  // character is carried so one split between two chunks is still counted, once.
  let ends = -1;
  let last = "";
  let head = false;
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    ends += (last + chunk).split("\n\n").length - 1;
    last = chunk.slice(-1);
    if (!head && paused) socket.pause();
    head = true;
  });
  socket.on("error", () => undefined);
  socket.write("GET /events HTTP/1.1\r\nHost: admin\r\n\r\n");
  const open = live.feed.subscribers + 1;
  while (live.feed.subscribers < open || !head) await turn();
  return { socket, received: () => ends };
}

describe("a reader that falls behind", () => {
  it("is cut, logged and counted; a reader that keeps up gets every event", async () => {
    const slow = await subscribe(true);
    const fast = await subscribe(false);
    const slowClosed = new Promise((resolve) => slow.socket.once("close", resolve));
    const denial = record({ tenant: "initech", target: "acme", code: "cross_tenant_denied" });
    let sent = 0;
    // In batches, with an event-loop turn between them, as requests arrive: a reader that
    // keeps up drains each batch; the paused one fills its socket, then its backlog.
    for (let batch = 0; batch < 5_000 && live.feed.dropped === 0; batch++) {
      for (let i = 0; i < 100; i++) live.feed.publish(denial);
      sent += 100;
      await turn();
    }
    expect(live.feed.dropped).toBe(1);
    // The server ended it: once the reader reads again it finds the end of the stream.
    slow.socket.resume();
    await slowClosed;
    expect(live.feed.subscribers).toBe(1);
    expect(sent).toBeGreaterThan(MAX_BACKLOG_BYTES / 1_000);
    expect(warnings.join("")).toContain("admin event stream dropped: the reader fell behind");
    const metric = await registry.getSingleMetricAsString("palisade_admin_streams_dropped_total");
    expect(metric).toMatch(/^palisade_admin_streams_dropped_total 1$/m);
    await eventually(() => fast.received() === sent, "every event at the fast reader");
    fast.socket.destroy();
  });
});
