import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createAnomalyAlerting, type AnomalyAlerting } from "./alerting.js";
import { BASE_CONFIG, recordingLogger, recordingMetrics } from "./test-support.js";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from "./webhook.js";

const SECRET = "correct-horse-battery-staple";

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function receiver(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks) });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/palisade`, received };
}

function alerting(url: string, now: () => number): AnomalyAlerting {
  const a = createAnomalyAlerting(
    { ...BASE_CONFIG, quietPeriod: 1_000, webhook: { url, secret: SECRET } },
    {
      service: "orders",
      instance: "orders-0",
      logger: recordingLogger(),
      metrics: recordingMetrics(),
      now,
      tickIntervalMs: 0,
    },
  );
  cleanup.push(() => a.close(1_000));
  return a;
}

describe("webhook sink", () => {
  it("posts a firing and a resolution, each signed over the raw body", async () => {
    const { url, received } = await receiver();
    let now = Date.now();
    const a = alerting(url, () => now);
    for (let i = 0; i < 3; i++)
      a.record({ tenant: "globex", kind: "spoofed_header", requestId: `r${i}` });
    now += 1_000;
    a.detector.tick();
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(2);

    const [firing, resolved] = received.map((r) => ({
      ...r,
      body: JSON.parse(r.raw.toString("utf8")) as { timestamp: number; alert: { endsAt?: string } },
    }));
    for (const message of [firing, resolved]) {
      if (!message) throw new Error("missing delivery");
      // Verified independently of the module's own helper.
      const expected = `sha256=${createHmac("sha256", SECRET).update(message.raw).digest("hex")}`;
      expect(message.headers[SIGNATURE_HEADER]).toBe(expected);
      expect(message.headers[TIMESTAMP_HEADER]).toBe(`${message.body.timestamp}`);
      expect(Math.abs(Number(message.headers[TIMESTAMP_HEADER]) - now / 1000)).toBeLessThan(5);
      expect(message.headers["content-type"]).toBe("application/json");
    }
    expect(firing?.body).toMatchObject({
      version: 1,
      status: "firing",
      service: "orders",
      instance: "orders-0",
      alert: { tenant: "globex", kind: "context_spoofing", requestId: "r2", endsAt: null },
    });
    expect(resolved?.body).toMatchObject({
      status: "resolved",
      alert: { kind: "context_spoofing" },
    });
    expect(resolved?.body.alert.endsAt).toBe(new Date(now).toISOString());
  });

  it("verifyWebhookSignature refuses a tampered body, a wrong secret and a missing header", () => {
    const body = Buffer.from('{"status":"firing"}');
    const header = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
    expect(verifyWebhookSignature(SECRET, body, header)).toBe(true);
    expect(verifyWebhookSignature(SECRET, Buffer.from('{"status":"resolved"}'), header)).toBe(
      false,
    );
    expect(verifyWebhookSignature("another-secret-of-16", body, header)).toBe(false);
    expect(verifyWebhookSignature(SECRET, body, undefined)).toBe(false);
    expect(verifyWebhookSignature(SECRET, body, "sha256=00")).toBe(false);
  });
});

describe("reconfiguring network sinks", () => {
  it("tells a new receiver about alerts already firing, and drops a removed one", async () => {
    const first = await receiver();
    const second = await receiver();
    const config = { ...BASE_CONFIG, webhook: { url: first.url, secret: SECRET } };
    const a = createAnomalyAlerting(config, {
      service: "orders",
      instance: "orders-0",
      logger: recordingLogger(),
      metrics: recordingMetrics(),
      tickIntervalMs: 0,
    });
    cleanup.push(() => a.close(1_000));
    for (let i = 0; i < 3; i++) a.record({ tenant: "globex", kind: "cross_tenant_denied" });
    await expect.poll(() => first.received.length, { timeout: 5_000 }).toBe(1);

    a.reconfigure({ ...config, queueSize: 100 }); // unchanged: same sink, nothing re-sent
    a.reconfigure({ ...config, webhook: { url: second.url, secret: SECRET } });
    await expect.poll(() => second.received.length, { timeout: 5_000 }).toBe(1);
    expect(JSON.parse(second.received[0]?.raw.toString() ?? "{}")).toMatchObject({
      status: "firing",
      alert: { tenant: "globex", kind: "denial_burst" },
    });
    expect(first.received).toHaveLength(1);

    a.reconfigure(BASE_CONFIG);
    expect(a.deliveryStats()).toEqual({});
  });
});
