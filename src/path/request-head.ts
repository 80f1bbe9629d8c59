/**
 * Stages that read the request head: the one pass over its raw headers, and the checks on
 * what that pass found (field count, `Host`) that refuse before anything else is decided.
 */
import { isAuthority } from "../http/authority.js";
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";
import {
  checkHeaderBytes,
  checkHeaderCount,
  readRequestHeaders,
  requestIdFrom,
  type RequestHeaders,
} from "./headers.js";

/** DESIGN.md: headers over 16 KiB (Node's HTTP/1.1 default) are refused with 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

const NO_ALIASES: ReadonlySet<string> = new Set();

/**
 * Sorts every field once (headers.ts) and keeps the caller's request id. Inbound also
 * strips the configured aliases of `x-palisade-*` and the routing headers `allowHeaders`
 * does not name; outbound, the app is trusted with routing headers, and the peer's sidecar
 * decides about them.
 */
export function readHeaders(ctx: RequestContext): void {
  const { generation } = ctx;
  ctx.headers =
    ctx.direction === "inbound"
      ? readRequestHeaders(ctx.req.rawHeaders, generation.stripHeaders, generation.allowHeaders)
      : readRequestHeaders(ctx.req.rawHeaders, NO_ALIASES);
  ctx.record.requestId = requestIdFrom(ctx.headers.requestId);
}

/** DESIGN.md "Limits": `inbound.limits.headersCount` / `outbound.limits.headersCount`. */
export function limitHeaders(ctx: RequestContext): void {
  checkHeaderCount(ctx.headers.count, ctx.generation.config[ctx.direction].limits.headersCount);
  checkHeaderBytes(ctx.headers.bytes, MAX_HEADER_BYTES);
}

/** Inbound: exactly one `Host`, in RFC 3986 grammar (DESIGN.md "Authority"). */
export function oneValidHost(ctx: RequestContext): void {
  if (ctx.headers.authority !== undefined) return validAuthority(ctx.headers);
  const { hostCount, host } = ctx.headers;
  if (hostCount !== 1) throw new ProxyError("bad_request", "exactly one Host header is required");
  if (!isAuthority(host ?? ""))
    throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
}

/** Outbound: at most one `Host` (an absolute-form URI may name the upstream instead). */
export function atMostOneValidHost(ctx: RequestContext): void {
  if (ctx.headers.authority !== undefined) return validAuthority(ctx.headers);
  const { hostCount, host } = ctx.headers;
  if (hostCount > 1) throw new ProxyError("bad_request", "more than one Host header");
  if (host !== undefined && !isAuthority(host))
    throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
}

/**
 * HTTP/2: `:authority` names the host; a `Host` beside it must say the same (RFC 9113
 * §8.3.1), or the app and Palisade could each route by a different one.
 */
function validAuthority({ authority, hostCount, host }: RequestHeaders): void {
  if (hostCount > 1 || (hostCount === 1 && host !== authority))
    throw new ProxyError("bad_request", ":authority and Host differ");
  if (!isAuthority(authority ?? ""))
    throw new ProxyError("bad_request", ":authority is not an RFC 3986 host[:port]");
}
