/**
 * The inbound hop to the local app: where the request is routed from (the app's target
 * rule and cache settings), what Palisade stamps on it, and the call itself.
 */
import type { UpstreamResponse } from "../http/message.js";
import type { RequestContext } from "../path/context.js";
import {
  HEADER_CALLER,
  HEADER_CONTEXT,
  HEADER_REQUEST_ID,
  HEADER_TENANT,
} from "../path/headers.js";
import { injectSpan } from "../telemetry/tracing.js";
import { prepareForProjection } from "./project.js";

/** The app's target rule reads the request target as received; its routes may cache. */
export function toApp(ctx: RequestContext): void {
  const { generation } = ctx;
  ctx.targetRule = generation.inboundTarget;
  ctx.pathWithQuery = ctx.req.url ?? "";
  ctx.cacheRoute = generation.config.inbound.cache;
}

/**
 * The tenant context the app reads: tenant, caller, request id and the trace. Key order is
 * irrelevant: forward.ts writes the stamped headers first on the wire.
 */
export function stamp(ctx: RequestContext): void {
  const forward = ctx.headers.forward;
  forward[HEADER_TENANT] = ctx.tenant;
  forward[HEADER_CALLER] = ctx.record.callerId as string;
  forward[HEADER_REQUEST_ID] = ctx.record.requestId;
  if (ctx.span) injectSpan(ctx.span, forward);
  if (ctx.grant?.fields) prepareForProjection(forward);
}

/** The cache's miss path (or the call itself on uncached routes). */
export function forwardToApp(ctx: RequestContext): Promise<UpstreamResponse> {
  const { deps, generation, record } = ctx;
  const forward = ctx.headers.forward;
  // Signed only when the app will see it: a cache hit needs no token.
  forward[HEADER_CONTEXT] = deps.tokens.issue({
    tenant: ctx.tenant,
    caller: record.callerId as string,
    requestId: record.requestId,
    expires: deps.now() + generation.config.context.ttl,
  });
  return ctx.callUpstream({
    dispatcher: generation.config.inbound.appProtocol === "h2c" ? deps.appH2c : deps.app,
    origin: generation.config.inbound.app,
    method: ctx.req.method ?? "GET",
    path: ctx.route.pathWithQuery,
    headers: forward,
    body: ctx.body,
    timeout: generation.config.inbound.timeouts.upstream,
  });
}
