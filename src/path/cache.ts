/**
 * Step 5's cache, the same on both paths: on a route with `cache.enabled`, the caller
 * tenant's partition answers or is filled; elsewhere the upstream is called directly.
 * Cross-tenant requests under a grant bypass it, so another tenant's data (even projected)
 * is never stored in the caller's partition, and nothing the target tenant's own requests
 * stored is served to a granted caller (its grant may project, or cover fewer paths).
 *
 * Within a partition, the inbound side (the local app) and each outbound upstream are key
 * spaces of their own, named by configuration: what one origin answered is never served
 * for another, whatever `Host` a peer sends or host:port two upstreams share.
 */
import type { UpstreamRuntime } from "../config/generation.js";
import type { UpstreamResponse } from "../http/message.js";
import { CACHE_HEADER, type CacheRequest } from "../cache/index.js";
import type { RequestContext } from "./context.js";
import type { CacheResult } from "../telemetry/metrics.js";
import type { Stage } from "./run.js";

/** The forward stage the cache wraps: it sends the request and sets nothing on the context. */
export type Send = (ctx: RequestContext) => Promise<UpstreamResponse>;

/**
 * The cache stage around a direction's forward stage (made once per direction, not per
 * request): sets `ctx.response` from the caller tenant's partition or from `send`.
 */
export function throughCache(send: Send): Stage {
  return (ctx) => fetchThroughCache(ctx, send);
}

async function fetchThroughCache(ctx: RequestContext, send: Send): Promise<void> {
  if (!ctx.cacheRoute.enabled) {
    ctx.response = await send(ctx);
    return;
  }
  const { tenant, record } = ctx;
  if (ctx.grant !== undefined) {
    ctx.response = await send(ctx);
    label(ctx, "bypass");
    return;
  }
  const target = record.target;
  const { response, outcome } = await ctx.deps.cache.serve(
    {
      tenant,
      method: ctx.req.method ?? "GET",
      url: ctx.route.pathWithQuery,
      ...keySpace(ctx.generation.appOrigin, ctx.upstream, tenant),
      ...(target === undefined ? {} : { targetTenant: target }),
      headers: ctx.headers.forward,
    },
    { defaultTtl: ctx.cacheRoute.defaultTtl },
    () => send(ctx),
  );
  ctx.response = response;
  label(ctx, outcome);
}

/**
 * The key space and base URL of a source: the local app (inbound), or one upstream. An
 * upstream's space also names what picks the server behind its URL (TLS server name,
 * expected service): a reload changing them must not serve what the old server answered.
 */
function keySpace(
  appOrigin: string,
  upstream: UpstreamRuntime | undefined,
  tenant: string,
): Pick<CacheRequest, "space" | "base"> {
  // The app is called at its origin: `inbound.app` names no base path.
  if (!upstream) return { space: "inbound", base: appOrigin };
  return {
    space: `outbound ${upstream.name} ${upstream.service} ${upstream.sni(tenant)}`,
    base: upstream.origin + upstream.basePath,
  };
}

/**
 * Labels the client's response and records the outcome. The label goes on the outgoing
 * response itself, not on the upstream's headers: the paths drop every `x-palisade-*` name
 * the upstream sent (an app or peer must not be able to forge the label), and a projected
 * response keeps none of the upstream's headers at all.
 */
function label(ctx: RequestContext, outcome: CacheResult): void {
  ctx.record.cache = outcome;
  ctx.res.setHeader(CACHE_HEADER, outcome);
}
