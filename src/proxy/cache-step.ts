/**
 * Step 5's cache, the same on both paths: on a route with `cache.enabled`, the caller
 * tenant's partition answers or is filled; elsewhere the upstream is called directly.
 * Cross-tenant requests under a grant bypass it, so another tenant's data (even projected)
 * is never stored in the caller's partition.
 */
import type { RouteCacheConfig } from "../config/schema.js";
import { CACHE_HEADER, type CacheOutcome } from "../cache/index.js";
import type { Exchange } from "./exchange.js";
import type { UpstreamResponse } from "./forward.js";
import type { HeaderMap } from "./headers.js";

export interface CacheStep {
  route: RouteCacheConfig;
  tenant: string;
  target: string | undefined;
  granted: boolean;
  authority: string;
  method: string;
  pathWithQuery: string;
  headers: HeaderMap;
}

export async function fetchThroughCache(
  exchange: Exchange,
  step: CacheStep,
  fetch: () => Promise<UpstreamResponse>,
): Promise<UpstreamResponse> {
  const { cache } = exchange.deps;
  if (!step.route.enabled) return fetch();
  if (step.granted) {
    const response = await fetch();
    record(exchange, step.tenant, "bypass");
    return response;
  }
  const { response, outcome } = await cache.serve(
    {
      tenant: step.tenant,
      method: step.method,
      url: step.pathWithQuery,
      authority: step.authority,
      ...(step.target === undefined ? {} : { targetTenant: step.target }),
      headers: step.headers,
    },
    { defaultTtl: step.route.defaultTtl },
    fetch,
  );
  record(exchange, step.tenant, outcome);
  return response;
}

/**
 * Labels the client's response and counts the outcome. The label goes on the outgoing
 * response itself, not on the upstream's headers: the paths drop every `x-palisade-*` name
 * the upstream sent (an app or peer must not be able to forge the label), and a projected
 * response keeps none of the upstream's headers at all.
 */
function record(exchange: Exchange, tenant: string, outcome: CacheOutcome): void {
  exchange.cache = outcome;
  exchange.res.setHeader(CACHE_HEADER, outcome);
  exchange.deps.metrics.cacheRequest(tenant, outcome);
}
