/**
 * Turning a stored entry into the response for one request: `Age`, `x-palisade-cache: hit`,
 * no body for HEAD, and 304 when the request's validators still match (RFC 9110 §13.1).
 */
import type { IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { parseHttpDate } from "./cache-control.js";
import type { HeaderRecord, UpstreamResponse } from "../http/message.js";
import { CACHE_HEADER, currentAgeMs, type CachedResponse } from "./stored-response.js";

/** Fields a 304 carries (RFC 9110 §15.4.5), besides the ones we add. */
const NOT_MODIFIED_FIELDS = [
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "vary",
];

export function hitResponse(
  entry: CachedResponse,
  method: string,
  request: IncomingHttpHeaders,
  now: number,
): UpstreamResponse {
  const age = String(Math.floor(currentAgeMs(entry, now) / 1000));
  if (entry.statusCode === 200 && notModified(entry, request)) {
    const headers: HeaderRecord = {};
    for (const name of NOT_MODIFIED_FIELDS) {
      const value = entry.headers[name];
      if (value !== undefined) headers[name] = typeof value === "string" ? value : [...value];
    }
    return { statusCode: 304, headers: { ...headers, age, [CACHE_HEADER]: "hit" }, body: empty() };
  }
  const headers: HeaderRecord = {};
  for (const [name, value] of Object.entries(entry.headers)) {
    headers[name] = typeof value === "string" ? value : [...value];
  }
  // The stored body is complete, so its length is known; 204 must not carry one.
  if (entry.statusCode !== 204) headers["content-length"] = String(entry.body.length);
  headers["age"] = age;
  headers[CACHE_HEADER] = "hit";
  const body =
    method === "HEAD" || entry.body.length === 0
      ? empty()
      : Readable.from([entry.body], { objectMode: false });
  return { statusCode: entry.statusCode, headers, body };
}

function empty(): Readable {
  return Readable.from([], { objectMode: false });
}

/** If-None-Match (weak comparison) wins over If-Modified-Since, as RFC 9110 §13.2.2 orders. */
function notModified(entry: CachedResponse, request: IncomingHttpHeaders): boolean {
  const ifNoneMatch = request["if-none-match"];
  if (ifNoneMatch !== undefined) {
    const etag = entry.headers["etag"];
    if (typeof etag !== "string") return false;
    const tags = ifNoneMatch.split(",").map((t) => weak(t.trim()));
    return tags.includes("*") || tags.includes(weak(etag));
  }
  const since = parseHttpDate(request["if-modified-since"]);
  const lastModifiedValue = entry.headers["last-modified"];
  const lastModified =
    typeof lastModifiedValue === "string" ? parseHttpDate(lastModifiedValue) : undefined;
  return since !== undefined && lastModified !== undefined && lastModified <= since;
}

function weak(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}
