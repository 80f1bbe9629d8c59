/**
 * End to end over real sockets: an origin and a small front server on port 0 that uses the
 * cache the way the proxy is meant to (serve → writeHead → pipeline), fetched with undici.
 */
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream";
import { Agent, request as undiciRequest } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TenantHttpCache, type CacheOutcome } from "./http-cache.js";
import { PartitionedCache } from "./partitioned.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);
const agent = new Agent();
const events = new EventEmitter();
const originHits = new Map<string, number>();
const releases: (() => void)[] = [];
let now = 1_700_000_000_000;
let originUrl = "";
let frontUrl = "";
let outcomes: CacheOutcome[] = [];
const servers: Server[] = [];

function originHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? "/";
  originHits.set(path, (originHits.get(path) ?? 0) + 1);
  events.emit("origin", path);
  const headers = { "cache-control": "max-age=60", vary: "x-user", age: "3" };
  if (path === "/slow") {
    res.writeHead(200, headers);
    res.write("first;");
    releases.push(() => res.end("rest"));
  } else if (path === "/abort") {
    res.writeHead(200, { ...headers, "content-length": "100" });
    res.write("partial", () => res.destroy());
  } else {
    res.writeHead(200, headers);
    res.end(`origin ${path} for ${String(req.headers["x-user"])} #${originHits.get(path)}`);
  }
}

let cache: TenantHttpCache;

/** What the proxy does with a result: write the labelled head, pipe the body, log the outcome. */
function frontHandler(req: IncomingMessage, res: ServerResponse): void {
  const tenant = String(req.headers["x-test-tenant"]);
  const fetch = async () => {
    const up = await undiciRequest(`${originUrl}${req.url ?? "/"}`, {
      method: req.method as "GET",
      headers: { "x-user": req.headers["x-user"] ?? "" },
      dispatcher: agent,
    });
    return { statusCode: up.statusCode, headers: up.headers, body: up.body };
  };
  const served = cache.serve(
    {
      tenant,
      method: req.method ?? "GET",
      url: req.url ?? "/",
      space: "inbound",
      base: "http://api.local",
      headers: req.headers,
    },
    { defaultTtl: 0 },
    fetch,
  );
  events.emit("served");
  served.then(
    ({ response, outcome }) => {
      outcomes.push(outcome);
      const headers = Object.fromEntries(
        Object.entries(response.headers).filter(([n]) => !HOP_BY_HOP.has(n)),
      );
      res.writeHead(response.statusCode, headers);
      pipeline(response.body, res, () => {});
    },
    () => res.writeHead(502).end(),
  );
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(path: string, tenant: string, user = "u1") {
  const res = await undiciRequest(`${frontUrl}${path}`, {
    headers: { "x-test-tenant": tenant, "x-user": user },
    dispatcher: agent,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

beforeAll(async () => {
  originUrl = await listen(originHandler);
  frontUrl = await listen(frontHandler);
});

beforeEach(() => {
  const partitions = new PartitionedCache(
    { maxBytes: 1024 ** 2, maxObjectBytes: 64 * 1024 },
    { now: () => now },
  );
  const quota = { maxBytes: 256 * 1024, maxEntries: 100 };
  partitions.setTenants(
    new Map([
      ["acme", quota],
      ["globex", quota],
    ]),
  );
  cache = new TenantHttpCache(partitions);
  originHits.clear();
  outcomes = [];
});

afterAll(async () => {
  await agent.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

describe("TenantHttpCache over HTTP", () => {
  it("keeps tenants apart and labels hits with x-palisade-cache and Age", async () => {
    expect((await get("/r", "acme")).text).toBe("origin /r for u1 #1");
    expect((await get("/r", "globex")).text).toBe("origin /r for u1 #2");
    now += 7_000;
    const hit = await get("/r", "acme");
    expect(hit.text).toBe("origin /r for u1 #1");
    expect(hit.headers).toMatchObject({ "x-palisade-cache": "hit", age: "10" });
    expect((await get("/r", "acme", "u2")).text).toBe("origin /r for u2 #3");
    expect(originHits.get("/r")).toBe(3);
  });

  it("streams the first bytes through while coalescing concurrent misses into one fetch", async () => {
    const arrived = once(events, "origin");
    const allServed = new Promise<void>((resolve) => {
      let served = 0;
      const onServed = (): void => {
        if (++served < 5) return;
        events.off("served", onServed);
        resolve();
      };
      events.on("served", onServed);
    });
    const leader = await undiciRequest(`${frontUrl}/slow`, {
      headers: { "x-test-tenant": "acme", "x-user": "u1" },
      dispatcher: agent,
    });
    await arrived;
    const chunks: string[] = [];
    const firstChunk = new Promise((resolve) => leader.body.once("data", resolve));
    leader.body.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
    await firstChunk;
    // The origin has not finished, yet the client already holds the first bytes.
    expect(chunks).toEqual(["first;"]);
    const waiters = Array.from({ length: 4 }, () => get("/slow", "acme"));
    await allServed;
    releases.shift()?.();
    await once(leader.body, "end");
    expect(chunks.join("")).toBe("first;rest");
    const bodies = await Promise.all(waiters);
    expect(bodies.map((b) => b.text)).toEqual(Array(4).fill("first;rest"));
    expect(originHits.get("/slow")).toBe(1);
    expect(outcomes.sort()).toEqual(["hit", "hit", "hit", "hit", "miss"]);
  });

  it("does not store a body the origin cut off", async () => {
    await expect(get("/abort", "acme")).rejects.toThrow();
    await expect(get("/abort", "acme")).rejects.toThrow();
    expect(originHits.get("/abort")).toBe(2);
    expect(outcomes).toEqual(["miss", "miss"]);
  });
});
