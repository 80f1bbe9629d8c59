/**
 * What one cache entry holds, and how big it is. Entries are immutable once stored: a hit
 * shares the body Buffer with every reader.
 */
import { connectionListedNames, HOP_BY_HOP_FIELDS, type HeaderRecord } from "../http/message.js";

export type StoredHeaders = Readonly<Record<string, string | readonly string[]>>;

/** What a purge prefix is matched against (see matchesPrefix). */
export interface PurgeNames {
  /** Origin-form path and query as the client asked for it. */
  readonly target: string;
  /** The URL it was sent to: origin, the upstream's base path, path and query. */
  readonly url: string;
}

export interface CachedResponse extends PurgeNames {
  /** The primary key (see cache-key.ts) this is a variant of. */
  readonly primary: string;
  /** The response's `Vary` names (lower-case, sorted): how to compute a request's variant. */
  readonly varyNames: readonly string[];
  readonly statusCode: number;
  /** End-to-end headers only: hop-by-hop, `Age` and `x-palisade-cache` removed. */
  readonly headers: StoredHeaders;
  readonly body: Buffer;
  /** When the response arrived (injected clock, ms). */
  readonly responseTime: number;
  /** The upstream `Age` at arrival, ms. */
  readonly initialAgeMs: number;
  /** First instant (ms) at which the entry is stale and must not be served. */
  readonly expiresAt: number;
}

export const CACHE_HEADER = "x-palisade-cache";

const HOP_BY_HOP: ReadonlySet<string> = new Set(HOP_BY_HOP_FIELDS);

/** Headers recomputed on every hit, so a stored copy would be wrong. */
const RECOMPUTED = new Set(["age", CACHE_HEADER]);

/** The end-to-end part of `headers`, including removal of every name `Connection` lists. */
export function storableHeaders(headers: HeaderRecord): StoredHeaders {
  const listed = connectionListedNames([headers["connection"] ?? []].flat());
  const out: Record<string, string | readonly string[]> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(name) || RECOMPUTED.has(name) || listed.has(name)) {
      continue;
    }
    out[name] = typeof value === "string" ? value : [...value];
  }
  return out;
}

export function headerBytes(headers: StoredHeaders): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === "string") bytes += name.length + value.length;
    else for (const v of value) bytes += name.length + v.length;
  }
  return bytes;
}

/** What an entry costs against a quota: body, headers and key (what the heap really holds). */
export function entrySize(key: string, entry: CachedResponse): number {
  return entry.body.length + headerBytes(entry.headers) + key.length;
}

/** The entry's current age in ms (RFC 9111 §4.2.3, without the Date-based correction). */
export function currentAgeMs(entry: CachedResponse, now: number): number {
  return entry.initialAgeMs + Math.max(0, now - entry.responseTime);
}

/**
 * Purge selection: a prefix starting with `/` matches the path and query as the client asked
 * for it (inbound and outbound alike), anything else the URL it was sent to
 * (`https://billing:15006/v1/path?query`); no prefix matches everything.
 */
export function matchesPrefix(names: PurgeNames, prefix: string | undefined): boolean {
  if (prefix === undefined) return true;
  return (prefix.startsWith("/") ? names.target : names.url).startsWith(prefix);
}
