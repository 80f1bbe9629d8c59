/**
 * The two per-request checks both paths share once the calling tenant is known: whether
 * the tenant may send another request now (rate and in-flight limits), and whether it may
 * reach the target tenant (the access decision), recorded on the exchange.
 */
import type { Generation } from "../config/generation.js";
import type { CompiledGrant } from "../tenancy/grants.js";
import { decideAccess } from "../tenancy/decide.js";
import type { ProxyDeps } from "./deps.js";
import { ProxyError } from "./errors.js";
import type { Exchange } from "./exchange.js";
import type { Route } from "./route.js";

/**
 * Refuses `rate_limited` over the tenant's token bucket or in-flight cap on this listener;
 * otherwise holds an in-flight slot until the response has closed and the upstream call ended.
 */
export function admitTenant(
  deps: ProxyDeps,
  exchange: Exchange,
  generation: Generation,
  tenant: string,
): void {
  const direction = exchange.direction;
  const rateLimit = generation.config.tenants[tenant]?.rateLimit;
  if (!deps.rateLimits[direction].allow(tenant, rateLimit, deps.now())) {
    throw new ProxyError("rate_limited");
  }
  const maxInFlight = generation.config[direction].limits.concurrentPerTenant;
  const release = deps.concurrency[direction].acquire(tenant, maxInFlight);
  if (!release) throw new ProxyError("rate_limited", "too many requests in flight for this tenant");
  exchange.holdSlot(release);
}

/**
 * Step 4: the caller's own resources, or another tenant's through an active grant;
 * otherwise `cross_tenant_denied`. Returns the grant that allowed it, if any.
 */
export function authorize(
  exchange: Exchange,
  generation: Generation,
  caller: string,
  route: Route,
  now: number,
): CompiledGrant | undefined {
  exchange.path = route.path;
  exchange.target = route.target;
  const decision = decideAccess(generation.grants, {
    caller,
    target: route.target,
    method: exchange.req.method ?? "",
    segments: route.segments,
    now,
  });
  if (!decision.allow) throw new ProxyError(decision.code);
  exchange.decision = decision.grant ? "grant" : "allow";
  exchange.grantId = decision.grant?.id;
  return decision.grant;
}
