import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SuspiciousEvent } from "../anomaly/alert.js";
import type { Generation } from "../config/generation.js";
import { createLogs } from "../telemetry/logs.js";
import { Metrics } from "../telemetry/metrics.js";
import { RequestContext } from "./context.js";
import type { ProxyDeps } from "./deps.js";
import { ProxyError } from "./errors.js";
import { readHeaders } from "./request-head.js";
import { filterResponse, respond } from "./respond.js";
import { runStages, type Stage } from "./run.js";
import { NOW, testGeneration } from "./test-support.js";

interface Line {
  log?: string;
  level: string;
  msg?: string;
  [key: string]: unknown;
}

const lines: Line[] = [];
const events: SuspiciousEvent[] = [];
const metrics = new Metrics("orders");
let generation: Generation = testGeneration(["acme", "globex"]);
const deps = {
  generation: () => generation,
  metrics,
  logs: createLogs(
    { level: "info", destination: "stdout", baseDir: ".", service: "orders" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  ),
  anomaly: { record: (event: SuspiciousEvent) => void events.push(event) },
  tracing: undefined,
  now: () => NOW,
} as Partial<ProxyDeps> as ProxyDeps;

let stages: readonly Stage[] = [];
let server: Server;
let url: string;

beforeAll(async () => {
  metrics.setTenants(["acme", "globex"]);
  server = createServer((req, res) => {
    void runStages(stages, new RequestContext("inbound", req, res, deps));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const asAcme: Stage = (ctx) => {
  ctx.tenant = "acme";
  ctx.record.tenant = "acme";
};
const ranAfterRefusal: string[] = [];
const neverReached: Stage = (ctx) => void ranAfterRefusal.push(ctx.record.requestId);
const answerOk: Stage = (ctx) => {
  ctx.response = {
    statusCode: 200,
    headers: { "x-palisade-cache": "hit" },
    body: Readable.from(["ok"]),
  };
};

async function count(name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("runStages", () => {
  it("stops at the first refusal, answers its JSON, and reports the record once", async () => {
    stages = [
      readHeaders,
      asAcme,
      (ctx) => {
        ctx.record.target = "globex";
        throw new ProxyError("cross_tenant_denied");
      },
      neverReached,
    ];
    const before = lines.length;
    const answer = await request(url, { headers: { "x-request-id": "req-1" } });
    expect(answer.statusCode).toBe(403);
    expect(await answer.body.json()).toMatchObject({
      error: "cross_tenant_denied",
      requestId: "req-1",
    });
    expect(ranAfterRefusal).toEqual([]);
    const reported = lines.slice(before);
    expect(reported.map((l) => [l.log, l.level, l.msg])).toEqual([
      ["audit", "warn", "request denied"],
      ["access", "warn", "request refused"],
    ]);
    expect(reported[0]).toMatchObject({ caller: "acme", target: "globex", decision: "deny" });
    expect(events).toEqual([
      { tenant: "acme", kind: "cross_tenant_denied", target: "globex", requestId: "req-1" },
    ]);
    expect(
      await count("palisade_cross_tenant_denied_total", 'direction="inbound",tenant="acme"'),
    ).toBe(1);
  });

  it("an error no stage expected is a 502 and one error line, never a crash", async () => {
    stages = [
      readHeaders,
      () => {
        throw new TypeError("a bug");
      },
    ];
    const before = lines.length;
    const answer = await request(url);
    expect(answer.statusCode).toBe(502);
    expect(await answer.body.json()).toMatchObject({
      error: "upstream_unavailable",
      message: "internal error",
    });
    expect(lines.slice(before)[0]).toMatchObject({
      level: "error",
      msg: "unexpected error on request path",
    });
  });

  it("serves through the response stages; the access switch is the request's generation's", async () => {
    stages = [readHeaders, asAcme, answerOk, filterResponse, respond];
    const served = async (): Promise<Line[]> => {
      const before = lines.length;
      const answer = await request(url);
      expect(answer.statusCode).toBe(200);
      // A reserved header from the upstream never reaches the client.
      expect(answer.headers["x-palisade-cache"]).toBeUndefined();
      expect(await answer.body.text()).toBe("ok");
      return lines.slice(before).filter((l) => l.log === "access");
    };
    expect(await served()).toMatchObject([{ level: "info", status: 200, tenant: "acme" }]);
    generation = testGeneration(["acme", "globex"], {
      telemetry: {
        logs: {
          level: "info",
          destination: "stdout",
          access: false,
          accessFilter: { sampleRatio: 1 },
        },
        peers: [],
      },
    });
    expect(await served()).toEqual([]);
    expect(
      await count(
        "palisade_requests_total",
        'direction="inbound",tenant="acme",peer="unknown",upstream="",code="200"',
      ),
    ).toBe(2);
  });
});
