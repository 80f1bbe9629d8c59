/**
 * Header hygiene for both directions: hop-by-hop removal (RFC 9110 §7.6.1, including
 * every name the `Connection` header lists), reserved-header stripping, routing-header
 * stripping (inbound), and the request facts the later stages need, gathered in one pass
 * over `rawHeaders`. See docs/hardening-headers.md.
 */
import { randomUUID } from "node:crypto";
import { connectionListedNames, HOP_BY_HOP_FIELDS, type HeaderMap } from "../http/message.js";
import { foldedName } from "../http/field-name.js";
import { ProxyError } from "./errors.js";

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
 * Headers with which a client could make the app see another host, path, scheme, method
 * or client than Palisade decided on (DESIGN.md "Routing headers"). On the inbound path
 * they are stripped unless `inbound.allowHeaders` names one: they are common from ordinary
 * clients and proxies, so they are not treated as spoofing. Matched on the dashed name.
 */
const ROUTING_NAMES: ReadonlySet<string> = new Set([
  "forwarded",
  "x-forwarded",
  "x-host",
  "x-rewrite-url",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-http-destinationurl",
  "x-envoy-original-path",
  "x-envoy-original-host",
  "x-scheme",
  "x-url-scheme",
  "front-end-https",
  "x-real-ip",
  "x-client-ip",
  "client-ip",
  "true-client-ip",
  "x-cluster-client-ip",
]);
export function isRoutingHeader(dashed: string): boolean {
  return (
    ROUTING_NAMES.has(dashed) ||
    dashed.startsWith("x-forwarded-") ||
    dashed.startsWith("x-original-")
  );
}

/** The headers Palisade stamps, written before any client header (see `wireHeaders`). */
const STAMPED: ReadonlySet<string> = new Set([
  HEADER_TENANT,
  HEADER_CALLER,
  HEADER_CONTEXT,
  HEADER_REQUEST_ID,
  "traceparent",
  "tracestate",
]);

/** What one pass over the request's raw headers found. */
export interface RequestHeaders {
  /** Headers to forward: hop-by-hop, reserved and (inbound) routing names removed. */
  forward: HeaderMap;
  /** Reserved headers that arrived from the network, by dashed lower-case name (all values). */
  reserved: Map<string, string[]>;
  /** Routing headers stripped, by received lower-case name (one entry per field). */
  routing: string[];
  /** Header fields received, HTTP/2 pseudo-headers not counted. */
  count: number;
  hostCount: number;
  host: string | undefined;
  /** HTTP/2's `:authority` (never forwarded as such: the app gets it as `Host`). */
  authority: string | undefined;
  /** Decoded bytes of the fields, names and values: HTTP/2's are capped only loosely. */
  bytes: number;
  requestId: string | undefined;
}

/**
 * @param strip extra names (configured aliases such as `x-tenant-id`) treated like `x-palisade-*`.
 * @param allowRouting undefined: routing headers pass (outbound, where the app is trusted and
 *   the peer's sidecar decides). A set: routing headers are stripped unless it names them in
 *   their dashed spelling; any other spelling (`_`, `.`) is always stripped.
 */
export function readRequestHeaders(
  raw: readonly string[],
  strip: ReadonlySet<string>,
  allowRouting?: ReadonlySet<string>,
): RequestHeaders {
  let connection: string[] | undefined;
  // No prototype: a field named `constructor` or `__proto__` is just a field.
  const forward: HeaderMap = Object.create(null) as HeaderMap;
  const reserved = new Map<string, string[]>();
  let routing: string[] = [];
  let count = 0;
  let hostCount = 0;
  let host: string | undefined;
  let authority: string | undefined;
  let bytes = 0;
  let requestId: string | undefined;
  let requestIds = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    bytes += name.length + value.length;
    // HTTP/2 pseudo-headers (nghttp2 has checked their set): not fields, never forwarded.
    if (name.startsWith(":")) {
      if (name === ":authority") authority = value;
      continue;
    }
    count++;
    const dashed = foldedName(name);
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
    } else if (HOP_BY_HOP.has(name)) {
      if (name === "connection") (connection ??= []).push(value);
      continue;
    } else if (allowRouting && isRoutingHeader(dashed) && !allowRouting.has(name)) {
      routing.push(name);
      continue;
    } else if (name === HEADER_REQUEST_ID) {
      requestIds++;
      requestId = value;
      continue;
    }
    appendHeader(forward, name, value);
  }
  // What `Connection` lists is hop-by-hop too: undone after the one pass rather than looked
  // up in a pass before it (`keep-alive`, the usual value, names nothing more). A listed
  // `Host` or reserved name still counts as such.
  if (connection) {
    const listed = connectionListedNames(connection);
    for (const name of listed) if (name !== "host") delete forward[name];
    if (listed.has(HEADER_REQUEST_ID)) requestIds = 0;
    if (routing.length > 0) routing = routing.filter((name) => !listed.has(name));
  }
  if (requestIds !== 1) requestId = undefined;
  // The authority of an HTTP/2 request is its `Host` (RFC 9113 §8.3.1), for the stages and
  // the app alike; a `Host` beside it must agree (request-head.ts).
  if (authority !== undefined && hostCount === 0) {
    forward["host"] = authority;
    host = authority;
  }
  // HTTP/2 may split `cookie` into one field per pair; an HTTP/1.1 app expects one line
  // (RFC 9113 §8.2.3).
  const cookie = forward["cookie"];
  if (authority !== undefined && Array.isArray(cookie)) forward["cookie"] = cookie.join("; ");
  return { forward, reserved, routing, count, hostCount, host, authority, bytes, requestId };
}

/** DESIGN.md "Limits": more header fields than `limit` is a 431, whatever their size. */
export function checkHeaderCount(count: number, limit: number): void {
  if (count > limit)
    throw new ProxyError("headers_too_large", `more than ${limit} request header fields`);
}

/**
 * DESIGN.md: headers over 16 KiB are a 431. HTTP/1.1's parser enforces it before any
 * request exists; an HTTP/2 header block is decoded up to a looser cap, so it is checked here.
 */
export function checkHeaderBytes(bytes: number, limit: number): void {
  if (bytes > limit)
    throw new ProxyError("headers_too_large", `request headers over ${limit} bytes`);
}

/** Field lines a header map is sent as (a repeated field is one line per value). */
export function fieldCount(headers: HeaderMap): number {
  let count = 0;
  for (const name in headers) {
    const value = headers[name] as string | string[];
    count += typeof value === "string" ? 1 : value.length;
  }
  return count;
}

/**
 * The values of one header under every spelling a CGI-style app reads as that name
 * (`x_target_tenant`, `x.target.tenant` are `x-target-tenant`), reserved or forwarded;
 * undefined when absent.
 */
export function valuesByDashedName(headers: RequestHeaders, name: string): string[] | undefined {
  let values = headers.reserved.get(name)?.slice();
  for (const key in headers.forward) {
    if (key !== name && foldedName(key) !== name) continue;
    (values ??= []).push(...[headers.forward[key] as string | string[]].flat());
  }
  return values;
}

/**
 * A header map as the flat `[name, value, …]` list sent on the wire, Palisade's stamped
 * headers first: an app server that keeps only its first N fields must never lose the
 * tenant to a client's padding. A list, not the map, because a JS object enumerates
 * integer-like keys (a field named `1`) before every other.
 */
export function wireHeaders(headers: HeaderMap): string[] {
  const out: string[] = [];
  for (const name of STAMPED) if (Object.hasOwn(headers, name)) pushField(out, name, headers);
  for (const name of Object.keys(headers)) if (!STAMPED.has(name)) pushField(out, name, headers);
  return out;
}

function pushField(out: string[], name: string, headers: HeaderMap): void {
  const value = headers[name] as string | string[];
  if (typeof value === "string") out.push(name, value);
  else for (const item of value) out.push(name, item);
}

/** Response headers to pass on: hop-by-hop removed; `drop` names (e.g. reserved) removed too. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  drop?: (name: string) => boolean,
): HeaderMap {
  const connection = headers["connection"];
  const named =
    connection === undefined
      ? undefined
      : connectionListedNames(typeof connection === "string" ? [connection] : connection);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    // HTTP/2 pseudo-headers are the protocol's, not fields to pass on.
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    if (name.startsWith(":")) continue;
    if (drop?.(name)) continue;
    out[name] = value;
  }
  return out;
}

export function appendHeader(headers: HeaderMap, name: string, value: string): void {
  const existing = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (existing === undefined) headers[name] = value;
  else if (typeof existing === "string") headers[name] = [existing, value];
  else existing.push(value);
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's well-formed request id (tracing across hops); mints one otherwise. */
export function requestIdFrom(candidate: string | undefined): string {
  return candidate !== undefined && REQUEST_ID.test(candidate) ? candidate : randomUUID();
}
