import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  DeliveryQueue,
  type Delivery,
  type DeliveryQueueOptions,
  type DropReason,
} from "./delivery-queue.js";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const servers: Server[] = [];
const queues: DeliveryQueue[] = [];

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close(100)));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => handler(req, body, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

function queue(options: Partial<DeliveryQueueOptions> = {}) {
  const drops: DropReason[] = [];
  const q = new DeliveryQueue({
    capacity: 10,
    random: () => 0, // no backoff wait: retries are immediate and deterministic
    onDropped: (reason) => drops.push(reason),
    ...options,
  });
  queues.push(q);
  return { q, drops };
}

const delivery = (url: string, body: string): Delivery => ({
  url,
  render: () => ({ body, headers: {} }),
});

describe("DeliveryQueue", () => {
  it("delivers in order, one at a time, as JSON", async () => {
    const seen: string[] = [];
    const url = await serve((req, body, res) => {
      seen.push(`${req.headers["content-type"]} ${body}`);
      res.end();
    });
    const { q } = queue();
    for (let i = 0; i < 5; i++) q.push(delivery(url, `[${i}]`));
    expect(await q.close(5_000)).toBe(0);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `application/json [${i}]`));
  });

  it("retries 5xx and 429 with backoff, rendering each attempt afresh", async () => {
    const statuses = [503, 429, 200];
    const bodies: string[] = [];
    const url = await serve((_req, body, res) => {
      bodies.push(body);
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
    let attempt = 0;
    const { q, drops } = queue();
    q.push({ url, render: () => ({ body: `${++attempt}`, headers: {} }) });
    await q.close(5_000);
    expect(bodies).toEqual(["1", "2", "3"]);
    expect(q.stats()).toMatchObject({ delivered: 1, dropped: 0 });
    expect(drops).toEqual([]);
  });

  it("does not retry a 4xx that will not fix itself", async () => {
    let hits = 0;
    const url = await serve((_req, _body, res) => {
      hits += 1;
      res.statusCode = 400;
      res.end();
    });
    const { q, drops } = queue();
    q.push(delivery(url, "[]"));
    await q.close(5_000);
    expect(hits).toBe(1);
    expect(drops).toEqual(["failed"]);
  });

  it("gives up after maxAttempts, each attempt cut off by the timeout", async () => {
    let hits = 0;
    const url = await serve(() => void (hits += 1)); // never answers
    const { q, drops } = queue({ timeoutMs: 100, maxAttempts: 3 });
    const started = Date.now();
    q.push(delivery(url, "[]"));
    await expect.poll(() => drops, { timeout: 5_000, interval: 20 }).toEqual(["failed"]);
    expect(hits).toBe(3);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("drops the oldest waiting delivery when full, and counts it", async () => {
    const seen: string[] = [];
    const url = await serve((_req, body, res) => {
      seen.push(body);
      res.end();
    });
    const { q, drops } = queue({ capacity: 3 });
    for (let i = 0; i < 8; i++) q.push(delivery(url, `${i}`));
    expect(q.stats()).toMatchObject({ waiting: 3, dropped: 5 });
    expect(drops).toEqual(Array(5).fill("overflow"));
    await q.close(5_000);
    expect(seen).toEqual(["5", "6", "7"]);
  });

  it("close() gives up at its deadline against a receiver that hangs", async () => {
    const url = await serve(() => {});
    const { q, drops } = queue({ timeoutMs: 10_000 });
    for (let i = 0; i < 4; i++) q.push(delivery(url, `${i}`));
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    expect(await q.close(200)).toBe(4);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(drops).toEqual(["closed", "closed", "closed", "closed"]);
    q.push(delivery(url, "late"));
    expect(drops).toHaveLength(5);
  });
});
