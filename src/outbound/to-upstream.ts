/**
 * The outbound hop to a peer: what Palisade stamps on the call (the upstream's authority,
 * the tenant it is made for, the request id, the trace), and the call itself, over mTLS
 * with that tenant's client certificate.
 */
import type { UpstreamRuntime } from "../config/generation.js";
import type { UpstreamResponse } from "../http/message.js";
import type { RequestContext } from "../path/context.js";
import { checkHeaderCount, fieldCount, HEADER_REQUEST_ID, HEADER_TENANT } from "../path/headers.js";
import { injectSpan } from "../telemetry/tracing.js";
import { withFailover } from "./failover.js";

export function stamp(ctx: RequestContext): void {
  const forward = ctx.headers.forward;
  // The first endpoint's; each attempt sets its own (forwardToUpstream).
  forward["host"] = (ctx.endpoints[0] ?? (ctx.upstream as UpstreamRuntime)).authority;
  forward[HEADER_TENANT] = ctx.tenant;
  forward[HEADER_REQUEST_ID] = ctx.record.requestId;
  if (ctx.span) injectSpan(ctx.span, forward);
  // With Palisade's own fields added the call must still fit the peer's inbound limit. The
  // fields forwarded are some of those received plus at most STAMPED_FIELDS: counted only
  // when that bound does not already fit.
  const limit = ctx.generation.config.outbound.limits.headersCount;
  if (ctx.headers.count + STAMPED_FIELDS > limit) checkHeaderCount(fieldCount(forward), limit);
}

/**
 * An upper bound on the fields stamped: host (also for an HTTP/2 caller, whose
 * `:authority` was not counted), tenant, request id, and the trace the span injects:
 * `traceparent`, `tracestate` and B3's `x-b3-traceid`, `-spanid`, `-parentspanid`,
 * `-sampled` and `-flags`.
 */
const STAMPED_FIELDS = 10;

/**
 * The cache's miss path (or the call itself on uncached routes): the tenant's allowed
 * endpoints in turn, each with its own authority and pool (failover.ts).
 */
export function forwardToUpstream(ctx: RequestContext): Promise<UpstreamResponse> {
  const { deps, generation } = ctx;
  const upstream = ctx.upstream as UpstreamRuntime;
  const headers = ctx.headers.forward;
  // An HTTP/2 call stays HTTP/2 to the peer: gRPC needs its trailers and full duplex.
  const h2 = "stream" in ctx.req;
  return withFailover(ctx, (endpoint, body) => {
    headers["host"] = endpoint.authority;
    return {
      dispatcher: h2
        ? deps.upstreamH2(generation, upstream, endpoint, ctx.tenant)
        : deps.upstreamPool(generation, upstream, endpoint, ctx.tenant),
      origin: endpoint.origin,
      method: ctx.req.method ?? "GET",
      path: endpoint.basePath + ctx.route.pathWithQuery,
      headers,
      body,
      timeout: generation.config.outbound.timeouts.upstream,
    };
  });
}
