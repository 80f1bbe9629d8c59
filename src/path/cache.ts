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
import type { RouteCacheConfig } from "../config/schema.js";
import { CACHE_HEADER, type CacheOutcome, type CacheRequest } from "../cache/index.js";
import type { Exchange } from "./exchange.js";
import type { UpstreamResponse } from "./forward.js";
import type { HeaderMap } from "../http/message.js";

export interface CacheStep {
  route: RouteCacheConfig;
  tenant: string;
  target: string | undefined;
  granted: boolean;
  /** The origin the request goes to; it names the key space. */
  source: CacheSource;
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
      ...keySpace(step.source, step.tenant),
      ...(step.target === undefined ? {} : { targetTenant: step.target }),
      headers: step.headers,
    },
    { defaultTtl: step.route.defaultTtl },
    fetch,
  );
  record(exchange, step.tenant, outcome);
  return response;
}

/** Where a cached route's responses come from: the local app, or one configured upstream. */
export type CacheSource =
  | { direction: "inbound"; appOrigin: string }
  | { direction: "outbound"; upstream: UpstreamRuntime };

/**
 * The key space and base URL of a source. An upstream's space also names what picks the
 * server behind its URL (TLS server name, expected service): a reload changing them must not
 * serve what the old server answered.
 */
function keySpace(source: CacheSource, tenant: string): Pick<CacheRequest, "space" | "base"> {
  // The app is called at its origin: `inbound.app` names no base path.
  if (source.direction === "inbound") return { space: "inbound", base: source.appOrigin };
  const { upstream } = source;
  return {
    space: `outbound ${upstream.name} ${upstream.service} ${upstream.sni(tenant)}`,
    base: upstream.origin + upstream.basePath,
  };
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
