/**
 * Per-tenant token buckets (`tenants.T.rateLimit`), one per listener, so one tenant's
 * flood is refused with 429 before it costs the app or the peer anything. Buckets live
 * across config generations; a changed limit applies from the next request. Only proved
 * tenants reach a bucket, so the map is bounded by the tenants ever configured.
 */
interface Bucket {
  tokens: number;
  updated: number;
}

export interface RateLimit {
  requestsPerSecond: number;
  burst?: number | undefined;
}

export class TenantRateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  /** True when `tenant` may send one more request now. Tenants without a limit always may. */
  allow(tenant: string, limit: RateLimit | undefined, now: number): boolean {
    if (!limit) return true;
    const capacity = limit.burst ?? Math.max(1, Math.ceil(limit.requestsPerSecond));
    let bucket = this.#buckets.get(tenant);
    if (!bucket) {
      bucket = { tokens: capacity, updated: now };
      this.#buckets.set(tenant, bucket);
    }
    const refill = ((now - bucket.updated) / 1000) * limit.requestsPerSecond;
    bucket.tokens = Math.min(capacity, bucket.tokens + refill);
    bucket.updated = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /**
   * Whole seconds until `tenant`'s bucket holds a token again, at least 1: the refused
   * request's `Retry-After`. Read right after `allow` refused, so the bucket is current.
   */
  retryAfter(tenant: string, limit: RateLimit, now: number): number {
    const bucket = this.#buckets.get(tenant);
    const missing = bucket ? 1 - bucket.tokens : 0;
    const elapsed = bucket ? (now - bucket.updated) / 1000 : 0;
    const seconds = missing / limit.requestsPerSecond - elapsed;
    return Math.max(1, Math.ceil(seconds));
  }
}

/**
 * Requests in flight per tenant on one listener. The app's connection pool is shared, so
 * without a cap one tenant holding slow requests open would queue every other tenant.
 */
export class TenantConcurrency {
  readonly #inFlight = new Map<string, number>();

  /** Takes a slot for `tenant`, or returns undefined when it already holds `max`. */
  acquire(tenant: string, max: number): (() => void) | undefined {
    const current = this.#inFlight.get(tenant) ?? 0;
    if (current >= max) return undefined;
    this.#inFlight.set(tenant, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inFlight.get(tenant) ?? 1) - 1;
      if (left === 0) this.#inFlight.delete(tenant);
      else this.#inFlight.set(tenant, left);
    };
  }
}
