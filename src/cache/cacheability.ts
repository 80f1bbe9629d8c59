/**
 * RFC 9111 rules for a shared cache, reduced to two questions: may this request be answered
 * from (or refresh) the cache, and may this response be stored and for how long. Palisade
 * never revalidates, so anything that would need revalidation is simply not stored.
 */
import type { IncomingHttpHeaders } from "node:http";
import {
  deltaSeconds,
  parseCacheControl,
  parseDeltaSeconds,
  parseHttpDate,
  type Directives,
} from "./cache-control.js";
import { parseVary } from "./cache-key.js";
import type { HeaderRecord } from "../http/message.js";

export type RequestPolicy =
  /** May be answered from the cache, within the request's own freshness limits. */
  | { kind: "lookup"; maxAgeSeconds?: number; minFreshSeconds: number; onlyIfCached: boolean }
  /** Must go upstream (`no-cache`, `max-age=0`); the answer may replace the stored one. */
  | { kind: "refresh" }
  /** Does not touch the cache; `invalidate` for unsafe methods (RFC 9111 §4.4). */
  | { kind: "bypass"; invalidate: boolean };

/** Methods RFC 9110 §9.2.1 defines as safe; any other method may change the resource. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

export function requestPolicy(method: string, headers: IncomingHttpHeaders): RequestPolicy {
  if (method !== "GET" && method !== "HEAD") {
    return { kind: "bypass", invalidate: !SAFE_METHODS.has(method) };
  }
  // Partial content is not assembled from or into stored responses.
  if (headers.range !== undefined) return { kind: "bypass", invalidate: false };
  const cc = parseCacheControl(headers["cache-control"]);
  if (cc.has("no-store")) return { kind: "bypass", invalidate: false };
  // HTTP/1.0 `Pragma: no-cache` counts only when Cache-Control is absent (RFC 9111 §5.4).
  const pragmaNoCache =
    headers["cache-control"] === undefined &&
    /(^|,)\s*no-cache\s*(,|$)/i.test(headers.pragma ?? "");
  const maxAge = deltaSeconds(cc, "max-age");
  if (cc.has("no-cache") || pragmaNoCache || maxAge === 0) return { kind: "refresh" };
  return {
    kind: "lookup",
    ...(maxAge === undefined ? {} : { maxAgeSeconds: maxAge }),
    minFreshSeconds: deltaSeconds(cc, "min-fresh") ?? 0,
    onlyIfCached: cc.has("only-if-cached"),
  };
}

/** RFC 9110 §15.1 heuristically cacheable codes, minus 206 (no partial content handling). */
const CACHEABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

export type NotStoredReason =
  | "method"
  | "status"
  | "no-store"
  | "private"
  | "no-cache"
  | "set-cookie"
  | "vary-star"
  | "authorization"
  | "no-freshness"
  | "stale";

export type StoreDecision =
  | {
      store: true;
      /** Freshness lifetime (RFC 9111 §4.2.1), ms. */
      lifetimeMs: number;
      /** Age the response already had when it arrived (its `Age` header), ms. */
      initialAgeMs: number;
      varyNames: string[];
    }
  | { store: false; reason: NotStoredReason };

export interface ResponseFacts {
  statusCode: number;
  headers: HeaderRecord;
}

/**
 * Whether the response to `method`/`requestHeaders` may be stored, per RFC 9111 §3 for a
 * shared cache. `defaultTtlMs` is the route's heuristic freshness (0: explicit only);
 * `responseTimeMs` stands in for a missing or invalid `Date`.
 */
export function responsePolicy(
  method: string,
  requestHeaders: IncomingHttpHeaders,
  response: ResponseFacts,
  defaultTtlMs: number,
  responseTimeMs: number,
): StoreDecision {
  const { headers } = response;
  if (method !== "GET") return { store: false, reason: "method" };
  if (!CACHEABLE_STATUS.has(response.statusCode)) return { store: false, reason: "status" };
  const cc = parseCacheControl(headers["cache-control"]);
  // Qualified forms (`private="x"`, `no-cache="x"`) would allow storing without the named
  // fields; we do not strip fields, so any form refuses the whole response.
  if (cc.has("no-store")) return { store: false, reason: "no-store" };
  if (cc.has("private")) return { store: false, reason: "private" };
  if (cc.has("no-cache")) return { store: false, reason: "no-cache" };
  if (headers["set-cookie"] !== undefined) return { store: false, reason: "set-cookie" };
  const varyNames = parseVary(headers["vary"]);
  if (varyNames === "*") return { store: false, reason: "vary-star" };
  if (requestHeaders.authorization !== undefined && !sharedDespiteAuthorization(cc)) {
    return { store: false, reason: "authorization" };
  }
  const lifetimeMs = freshnessLifetime(cc, headers, defaultTtlMs, responseTimeMs);
  if (lifetimeMs === undefined) return { store: false, reason: "no-freshness" };
  const initialAgeMs = (parseDeltaSeconds(first(headers["age"]) ?? "") ?? 0) * 1000;
  if (lifetimeMs <= initialAgeMs) return { store: false, reason: "stale" };
  return { store: true, lifetimeMs, initialAgeMs, varyNames };
}

/**
 * Whether a response may be shared with requests that carry `Authorization`: stored from one
 * (RFC 9111 §3.5) or served to one. Only `public` and `s-maxage` say so. RFC 9111 also lets
 * `must-revalidate` through, trusting the origin to check credentials once the entry is
 * stale; Palisade never revalidates, and apps send `must-revalidate` on per-user responses.
 * Serving is as strict as storing: an entry stored for anonymous callers (often under the
 * route's defaultTtl, which the app never asked for) is not what a credentialed request is
 * owed, since the app may well have answered it differently.
 */
export function sharedDespiteAuthorization(cc: Directives): boolean {
  return cc.has("public") || cc.has("s-maxage");
}

/** s-maxage > max-age > Expires − Date > the route's default; undefined when none applies. */
function freshnessLifetime(
  cc: Directives,
  headers: HeaderRecord,
  defaultTtlMs: number,
  responseTimeMs: number,
): number | undefined {
  const seconds = deltaSeconds(cc, "s-maxage") ?? deltaSeconds(cc, "max-age");
  if (seconds !== undefined) return seconds * 1000;
  const expiresValue = headers["expires"];
  if (expiresValue !== undefined) {
    // Invalid or repeated-and-different Expires means "already expired" (RFC 9111 §5.3).
    const expires = single(expiresValue);
    const at = expires === undefined ? undefined : parseHttpDate(expires);
    if (at === undefined) return 0;
    const date = parseHttpDate(single(headers["date"])) ?? responseTimeMs;
    return Math.max(0, at - date);
  }
  return defaultTtlMs > 0 ? defaultTtlMs : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : value?.[0];
}

/** The value when every copy agrees; undefined when repeated copies disagree. */
function single(value: string | string[] | undefined): string | undefined {
  if (typeof value === "string" || value === undefined) return value;
  return value.every((v) => v === value[0]) ? value[0] : undefined;
}
