/**
 * Stages that read the request head: the one pass over its raw headers, and the checks on
 * what that pass found (field count, `Host`) that refuse before anything else is decided.
 */
import { isAuthority } from "../http/authority.js";
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";
import { checkHeaderCount, readRequestHeaders, requestIdFrom } from "./headers.js";

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
}

/** Inbound: exactly one `Host`, in RFC 3986 grammar (DESIGN.md "Authority"). */
export function oneValidHost(ctx: RequestContext): void {
  const { hostCount, host } = ctx.headers;
  if (hostCount !== 1) throw new ProxyError("bad_request", "exactly one Host header is required");
  if (!isAuthority(host ?? ""))
    throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
}

/** Outbound: at most one `Host` (an absolute-form URI may name the upstream instead). */
export function atMostOneValidHost(ctx: RequestContext): void {
  const { hostCount, host } = ctx.headers;
  if (hostCount > 1) throw new ProxyError("bad_request", "more than one Host header");
  if (host !== undefined && !isAuthority(host))
    throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
}
