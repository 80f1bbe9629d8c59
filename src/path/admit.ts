/**
 * Admission, the same on both paths once the calling tenant is known: whether it may send
 * another request now (its token bucket and its in-flight cap on this listener).
 */
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";

/**
 * Refuses `rate_limited` over the tenant's token bucket or in-flight cap on this listener;
 * otherwise holds an in-flight slot until the response has closed and the upstream call ended.
 */
export function admit(ctx: RequestContext): void {
  const { deps, direction, generation, tenant } = ctx;
  const rateLimit = generation.config.tenants[tenant]?.rateLimit;
  if (!deps.rateLimits[direction].allow(tenant, rateLimit, deps.now())) {
    throw new ProxyError("rate_limited");
  }
  const maxInFlight = generation.config[direction].limits.concurrentPerTenant;
  const release = deps.concurrency[direction].acquire(tenant, maxInFlight);
  if (!release) throw new ProxyError("rate_limited", "too many requests in flight for this tenant");
  ctx.holdSlot(release);
}
