/**
 * Header hygiene for both directions: hop-by-hop removal (RFC 9110 §7.6.1, including
 * every name the `Connection` header lists), reserved-header stripping, and the
 * request facts the later stages need, gathered in one pass over `rawHeaders`.
 */
import { randomUUID } from "node:crypto";
import { connectionListedNames, HOP_BY_HOP_FIELDS } from "../cache/message.js";

export const RESERVED_PREFIX = "x-palisade-";
export const HEADER_TENANT = "x-palisade-tenant";
export const HEADER_CALLER = "x-palisade-caller";
export const HEADER_CONTEXT = "x-palisade-context";
export const HEADER_CACHE = "x-palisade-cache";
export const HEADER_REQUEST_ID = "x-request-id";

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_FIELDS,
  // Node answers `100-continue` itself; undici refuses to send `expect`.
  "expect",
]);

/**
 * Headers with which a client could make the app route differently from what Palisade
 * decided on (another host, path or method). Dropped silently: they are common from
 * ordinary clients and proxies, so they are not treated as spoofing.
 */
const ROUTING_OVERRIDES = new Set([
  "x-forwarded-host",
  "x-original-url",
  "x-rewrite-url",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
]);

export type HeaderMap = Record<string, string | string[]>;

/** What one pass over the request's raw headers found. */
export interface RequestHeaders {
  /** Headers to forward: hop-by-hop and reserved names removed. */
  forward: HeaderMap;
  /** Reserved headers that arrived from the network, by lower-case name (all values). */
  reserved: Map<string, string[]>;
  hostCount: number;
  host: string | undefined;
  requestId: string | undefined;
}

/**
 * @param strip extra names (configured aliases such as `x-tenant-id`) treated like `x-palisade-*`.
 */
export function readRequestHeaders(
  raw: readonly string[],
  strip: ReadonlySet<string>,
): RequestHeaders {
  const connectionNamed = namesListedInConnection(raw);
  const forward: HeaderMap = {};
  const reserved = new Map<string, string[]>();
  let hostCount = 0;
  let host: string | undefined;
  let requestId: string | undefined;
  let requestIds = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    // CGI-style servers read `x-palisade_tenant` as `x-palisade-tenant`: so does this check.
    const dashed = name.includes("_") ? name.replaceAll("_", "-") : name;
    // Reserved names first: `Connection: x-palisade-tenant` must not hide a spoof.
    if (dashed.startsWith(RESERVED_PREFIX) || strip.has(dashed)) {
      const values = reserved.get(dashed);
      if (values) values.push(value);
      else reserved.set(dashed, [value]);
      continue;
    }
    if (name === "host") {
      hostCount++;
      host = value;
    } else if (HOP_BY_HOP.has(name) || connectionNamed?.has(name) || ROUTING_OVERRIDES.has(name)) {
      continue;
    } else if (name === HEADER_REQUEST_ID) {
      requestIds++;
      requestId = value;
      continue;
    }
    appendHeader(forward, name, value);
  }
  if (requestIds > 1) requestId = undefined;
  return { forward, reserved, hostCount, host, requestId };
}

/** Response headers to pass on: hop-by-hop removed; `drop` names (e.g. reserved) removed too. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  drop?: (name: string) => boolean,
): HeaderMap {
  const connection = headers["connection"];
  const named = connection === undefined ? undefined : connectionListedNames([connection].flat());
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    if (drop?.(name)) continue;
    out[name] = value;
  }
  return out;
}

export function appendHeader(headers: HeaderMap, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = value;
  else if (typeof existing === "string") headers[name] = [existing, value];
  else existing.push(value);
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's well-formed request id (tracing across hops); mints one otherwise. */
export function requestIdFrom(candidate: string | undefined): string {
  return candidate !== undefined && REQUEST_ID.test(candidate) ? candidate : randomUUID();
}

function namesListedInConnection(raw: readonly string[]): Set<string> | undefined {
  let values: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === "connection")
      (values ??= []).push(raw[i + 1] as string);
  }
  return values && connectionListedNames(values);
}
