import { describe, expect, it } from "vitest";
import { TenantConcurrency, TenantRateLimiter } from "./rate-limit.js";

describe("TenantRateLimiter", () => {
  it("allows a burst, then the refill rate", () => {
    const limiter = new TenantRateLimiter();
    const limit = { requestsPerSecond: 10, burst: 3 };
    expect([1, 2, 3, 4].map(() => limiter.allow("acme", limit, 0))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(limiter.allow("acme", limit, 100)).toBe(true);
    expect(limiter.allow("acme", limit, 100)).toBe(false);
  });

  it("says when a refused tenant's next token arrives, in whole seconds, at least one", () => {
    const limiter = new TenantRateLimiter();
    const slow = { requestsPerSecond: 0.25, burst: 1 };
    expect(limiter.allow("acme", slow, 0)).toBe(true);
    expect(limiter.allow("acme", slow, 1000)).toBe(false);
    // A quarter token back after 1 s; the other three quarters take 3 s more.
    expect(limiter.retryAfter("acme", slow, 1000)).toBe(3);
    const fast = { requestsPerSecond: 100, burst: 1 };
    expect(limiter.allow("globex", fast, 0)).toBe(true);
    expect(limiter.allow("globex", fast, 0)).toBe(false);
    // 10 ms away, but Retry-After counts whole seconds and 0 would invite a hot loop.
    expect(limiter.retryAfter("globex", fast, 0)).toBe(1);
  });

  it("keeps tenants apart", () => {
    const limiter = new TenantRateLimiter();
    const limit = { requestsPerSecond: 1, burst: 1 };
    expect(limiter.allow("acme", limit, 0)).toBe(true);
    expect(limiter.allow("acme", limit, 0)).toBe(false);
    expect(limiter.allow("globex", limit, 0)).toBe(true);
  });

  it("never limits a tenant without a limit", () => {
    const limiter = new TenantRateLimiter();
    expect(
      Array.from({ length: 1000 }, () => limiter.allow("acme", undefined, 0)).every(Boolean),
    ).toBe(true);
  });
});

describe("TenantConcurrency", () => {
  it("caps one tenant's requests in flight without touching another's", () => {
    const slots = new TenantConcurrency();
    const first = slots.acquire("acme", 2);
    const second = slots.acquire("acme", 2);
    expect(first && second).toBeTruthy();
    expect(slots.acquire("acme", 2)).toBeUndefined();
    expect(slots.acquire("globex", 2)).toBeDefined();
    first?.();
    first?.();
    expect(slots.acquire("acme", 2)).toBeDefined();
    expect(slots.acquire("acme", 2)).toBeUndefined();
  });
});
