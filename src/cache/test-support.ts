/**
 * Test support for the cache's unit tests: a real PartitionedCache and TenantHttpCache on an
 * injected clock, and upstream responses built from real Readable streams.
 */
import { PassThrough, Readable } from "node:stream";
import type { IncomingHttpHeaders } from "node:http";
import { TenantHttpCache, type CacheRequest, type CacheResult } from "./http-cache.js";
import type { HeaderRecord, UpstreamResponse } from "../http/message.js";
import { PartitionedCache } from "./partitioned.js";

export function harness(maxObjectBytes = 64 * 1024) {
  let now = 1_700_000_000_000;
  const cache = new PartitionedCache(
    { maxBytes: 16 * 1024 ** 2, maxObjectBytes },
    { now: () => now },
  );
  const quota = { maxBytes: 1024 ** 2, maxEntries: 1_000 };
  cache.setTenants(
    new Map([
      ["acme", quota],
      ["globex", quota],
    ]),
  );
  const http = new TenantHttpCache(cache);
  return {
    cache,
    http,
    advance: (ms: number) => (now += ms),
    serve: (req: CacheRequest, fetch: () => Promise<UpstreamResponse>, defaultTtl = 0) =>
      http.serve(req, { defaultTtl }, fetch),
  };
}

export function request(
  tenant: string,
  options: { method?: string; url?: string; headers?: IncomingHttpHeaders } = {},
): CacheRequest {
  return {
    tenant,
    method: options.method ?? "GET",
    url: options.url ?? "/tenants/x/report",
    space: "inbound",
    base: "http://api.local",
    headers: options.headers ?? {},
  };
}

export function response(
  headers: HeaderRecord,
  body: string | Readable = "",
  statusCode = 200,
): UpstreamResponse {
  const stream =
    typeof body === "string"
      ? Readable.from(body ? [Buffer.from(body)] : [], { objectMode: false })
      : body;
  return { statusCode, headers, body: stream };
}

/** An upstream that counts its calls and answers with `make(callNumber)`. */
export function origin(make: (call: number) => UpstreamResponse) {
  let calls = 0;
  return {
    fetch: (): Promise<UpstreamResponse> => Promise.resolve(make(++calls)),
    calls: () => calls,
  };
}

/** An upstream whose single response body the test writes by hand. */
export function manualOrigin(headers: HeaderRecord, statusCode = 200) {
  const body = new PassThrough();
  const o = origin(() => response(headers, body, statusCode));
  return { ...o, body };
}

export async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString();
}

/** The body and the labels a client would see. */
export async function consume(result: CacheResult) {
  const { statusCode, headers, body } = result.response;
  return { outcome: result.outcome, statusCode, headers, text: await text(body) };
}

export const FRESH = { "cache-control": "max-age=60" };
