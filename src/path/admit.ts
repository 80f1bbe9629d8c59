/**
 * Admission, the same on both paths once the calling tenant is known: whether it may send
 * another request now (its token bucket and its in-flight cap on this listener). A refusal
 * says which limit it hit, in its message and its log line, and a token bucket's refusal
 * says when to come back (`Retry-After`).
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
  const now = deps.now();
  const limiter = deps.rateLimits[direction];
  if (rateLimit && !limiter.allow(tenant, rateLimit, now)) {
    const refusal = rateLimited(
      `tenants.${tenant}.rateLimit`,
      `over this tenant's rate limit (tenants.${tenant}.rateLimit: ${rateLimit.requestsPerSecond} requests per second)`,
    );
    refusal.retryAfter = limiter.retryAfter(tenant, rateLimit, now);
    throw refusal;
  }
  const maxInFlight = generation.config[direction].limits.concurrentPerTenant;
  const release = deps.concurrency[direction].acquire(tenant, maxInFlight);
  if (!release) {
    const key = `${direction}.limits.concurrentPerTenant`;
    throw rateLimited(key, `too many requests in flight for this tenant (${key}: ${maxInFlight})`);
  }
  ctx.holdSlot(release);
}

/** A `rate_limited` refusal naming the configured limit it hit. */
export function rateLimited(limit: string, message: string, suspicious = true): ProxyError {
  const refusal = new ProxyError("rate_limited", message, suspicious);
  refusal.limit = limit;
  return refusal;
}
