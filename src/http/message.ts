/**
 * The HTTP message vocabulary the request path and the cache share: header maps, the
 * response shape an upstream call returns (and the cache stores and hands back), and which
 * fields are connection-specific.
 */
import type { Readable } from "node:stream";

/** Headers Palisade builds to send: lower-case names, no absent values. */
export type HeaderMap = Record<string, string | string[]>;

/** Lower-case names, as Node's http module and undici deliver them. */
export type HeaderRecord = Record<string, string | string[] | undefined>;

export interface UpstreamResponse {
  statusCode: number;
  headers: HeaderRecord;
  body: Readable;
  /** Settles once the upstream's stream is done: its trailers (gRPC's status travels here). */
  trailers?: Promise<HeaderRecord>;
}

/** RFC 9110 §7.6.1 connection-specific fields: never forwarded, never stored. */
export const HOP_BY_HOP_FIELDS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * The field names that `Connection` header values list (also connection-specific). Nearly
 * every message says just `keep-alive` or `close`: those answer a shared, frozen set
 * instead of a split and a new set per message.
 */
export function connectionListedNames(values: readonly string[]): ReadonlySet<string> {
  if (values.length === 1) {
    const common = COMMON_CONNECTION.get(values[0] as string);
    if (common) return common;
  }
  const names = new Set<string>();
  for (const value of values) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (name) names.add(name);
    }
  }
  return names;
}

const COMMON_CONNECTION: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  ["keep-alive", "Keep-Alive", "close", "Close"].map((value) => [
    value,
    new Set([value.toLowerCase()]),
  ]),
);
