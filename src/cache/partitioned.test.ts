import { describe, expect, it } from "vitest";
import { PartitionedCache, type TenantCacheLimits } from "./partitioned.js";
import { entrySize, type CachedResponse } from "./stored-response.js";

const URL_A = "https://h/a";

function entry(path: string, bodyBytes: number, expiresAt = 1_000_000): CachedResponse {
  return {
    primary: `https://h${path}`,
    target: path,
    url: `https://h${path}`,
    varyNames: [],
    statusCode: 200,
    headers: {},
    body: Buffer.alloc(bodyBytes),
    responseTime: 0,
    initialAgeMs: 0,
    expiresAt,
  };
}

/** A key whose entry of `bodyBytes` costs exactly `bodyBytes + key.length`. */
const key = (path: string): string => `https://h${path}`;

function setup(
  tenants: Record<string, TenantCacheLimits>,
  global = { maxBytes: 1_000_000, maxObjectBytes: 1_000_000 },
) {
  let now = 0;
  const evictions: string[] = [];
  const bytes = new Map<string, number>();
  const cache = new PartitionedCache(global, {
    now: () => now,
    hooks: { onEvict: (t) => evictions.push(t), onBytes: (t, b) => bytes.set(t, b) },
  });
  cache.setTenants(new Map(Object.entries(tenants)));
  const put = (tenant: string, path: string, size: number, expiresAt?: number) =>
    cache.set(tenant, key(path), entry(path, size, expiresAt));
  return { cache, evictions, bytes, put, advance: (ms: number) => (now += ms) };
}

const roomy = { maxBytes: 100_000, maxEntries: 100 };

describe("PartitionedCache", () => {
  it("keeps the same URL apart per tenant", () => {
    const { cache } = setup({ acme: roomy, globex: roomy });
    const a = entry("/a", 10);
    cache.set("acme", URL_A, a);
    expect(cache.get("acme", URL_A)).toBe(a);
    expect(cache.get("globex", URL_A)).toBeUndefined();
    const g = entry("/a", 20);
    cache.set("globex", URL_A, g);
    expect(cache.get("acme", URL_A)).toBe(a);
    expect(cache.get("globex", URL_A)).toBe(g);
  });

  it("counts body, headers and key against the quota", () => {
    const { cache, bytes } = setup({ acme: roomy });
    const e = { ...entry("/a", 100), headers: { "content-type": "text/plain" } };
    cache.set("acme", URL_A, e);
    expect(entrySize(URL_A, e)).toBe(
      100 + "content-type".length + "text/plain".length + URL_A.length,
    );
    expect(cache.bytes("acme")).toBe(entrySize(URL_A, e));
    expect(cache.totalBytes()).toBe(entrySize(URL_A, e));
    expect(bytes.get("acme")).toBe(entrySize(URL_A, e));
  });

  it("a tenant filling its quota evicts only its own entries", () => {
    const { cache, put, evictions } = setup({
      acme: { maxBytes: 1_000, maxEntries: 100 },
      globex: roomy,
    });
    put("globex", "/g", 500);
    for (let i = 0; i < 50; i++) put("acme", `/a${i}`, 100);
    expect(cache.bytes("acme")).toBeLessThanOrEqual(1_000);
    expect(cache.get("acme", key("/a49"))).toBeDefined();
    expect(cache.get("acme", key("/a0"))).toBeUndefined();
    expect(cache.get("globex", key("/g"))).toBeDefined();
    expect(evictions.length).toBeGreaterThan(0);
    expect(new Set(evictions)).toEqual(new Set(["acme"]));
  });

  it("enforces the tenant's entry count", () => {
    const { cache, put } = setup({ acme: { maxBytes: 100_000, maxEntries: 3 } });
    for (let i = 0; i < 5; i++) put("acme", `/a${i}`, 1);
    expect(cache.entries("acme")).toBe(3);
  });

  it("refuses an object over the per-object limit or the tenant's quota", () => {
    const { cache, put } = setup(
      { acme: { maxBytes: 5_000, maxEntries: 10 }, globex: roomy },
      { maxBytes: 1_000_000, maxObjectBytes: 10_000 },
    );
    expect(put("acme", "/big", 6_000)).toBe("too_large");
    expect(put("globex", "/big", 10_001)).toBe("too_large");
    expect(put("globex", "/ok", 9_000)).toBe("stored");
    expect(cache.entries("acme")).toBe(0);
  });

  it("the global cap never evicts another tenant: the inserting tenant pays or it is not stored", () => {
    const size = 100 + key("/x0").length;
    const { cache, put, evictions } = setup(
      { acme: roomy, globex: roomy },
      { maxBytes: size * 4, maxObjectBytes: 100_000 },
    );
    for (let i = 0; i < 3; i++) put("acme", `/x${i}`, 100);
    expect(put("globex", "/x0", 100)).toBe("stored");
    // Full: globex's next insert recycles globex's own entry.
    expect(put("globex", "/x1", 100)).toBe("stored");
    expect(cache.get("globex", key("/x0"))).toBeUndefined();
    expect(cache.entries("acme")).toBe(3);
    expect(evictions).toEqual(["globex"]);
    // An entry that would not fit even with globex emptied is refused, and nothing moves.
    expect(put("globex", "/huge", size * 2)).toBe("global_cap");
    expect(cache.get("globex", key("/x1"))).toBeDefined();
    expect(cache.entries("acme")).toBe(3);
    expect(cache.totalBytes()).toBeLessThanOrEqual(size * 4);
  });

  it("a tenant with nothing cached cannot take room from a full global cap", () => {
    const { cache, put } = setup(
      { acme: roomy, globex: roomy },
      { maxBytes: 300, maxObjectBytes: 1_000 },
    );
    put("acme", "/a", 250);
    expect(put("globex", "/g", 100)).toBe("global_cap");
    expect(cache.entries("acme")).toBe(1);
  });

  it("stale entries of any tenant give way under the global cap", () => {
    const { cache, put, advance } = setup(
      { acme: roomy, globex: roomy },
      { maxBytes: 300, maxObjectBytes: 1_000 },
    );
    put("acme", "/a", 250, 500);
    advance(1_000);
    expect(put("globex", "/g", 100)).toBe("stored");
    expect(cache.entries("acme")).toBe(0);
  });

  it("does not return or keep a stale entry", () => {
    const { cache, put, advance } = setup({ acme: roomy });
    put("acme", "/a", 10, 100);
    advance(99);
    expect(cache.get("acme", key("/a"))).toBeDefined();
    advance(1);
    expect(cache.get("acme", key("/a"))).toBeUndefined();
    expect(cache.bytes("acme")).toBe(0);
  });

  it("purges one tenant, all or by prefix, leaving the others", () => {
    const { cache, put } = setup({ acme: roomy, globex: roomy });
    for (const p of ["/r/1", "/r/2", "/s/1"]) {
      put("acme", p, 10);
      put("globex", p, 10);
    }
    expect(cache.purge("acme", "/r/")).toBe(2);
    expect(cache.get("acme", key("/s/1"))).toBeDefined();
    expect(cache.purge("acme", "https://h/s")).toBe(1);
    expect(cache.entries("globex")).toBe(3);
    expect(cache.purge("globex")).toBe(3);
    expect(cache.totalBytes()).toBe(0);
    expect(cache.purge("nobody")).toBe(0);
  });

  it("tracks variants per URL and drops them together", () => {
    const { cache } = setup({ acme: roomy });
    const vary = (names: string[], k: string) =>
      cache.set("acme", k, { ...entry("/a", 1), varyNames: names });
    vary(["x-user"], `${URL_A}\nx-user\n["1"]`);
    vary(["x-user"], `${URL_A}\nx-user\n["2"]`);
    vary(["accept"], `${URL_A}\naccept\n["a"]`);
    expect(cache.variants("acme", URL_A)).toEqual([["x-user"], ["accept"]]);
    expect(cache.deleteUrl("acme", URL_A)).toBe(3);
    expect(cache.variants("acme", URL_A)).toEqual([]);
    expect(cache.totalBytes()).toBe(0);
  });

  it("follows config reloads: adds, drops and resizes tenants", () => {
    const { cache, put, bytes } = setup({ acme: roomy, globex: roomy });
    for (let i = 0; i < 10; i++) put("acme", `/a${i}`, 100);
    put("globex", "/g", 100);
    cache.setTenants(
      new Map([
        ["acme", { maxBytes: 100_000, maxEntries: 4 }],
        ["initech", roomy],
      ]),
    );
    expect(cache.has("globex")).toBe(false);
    expect(bytes.get("globex")).toBe(0);
    expect(cache.entries("acme")).toBe(4);
    // The most recently used survive the resize.
    expect(cache.get("acme", key("/a9"))).toBeDefined();
    expect(cache.get("acme", key("/a6"))).toBeDefined();
    expect(cache.get("acme", key("/a5"))).toBeUndefined();
    expect(cache.get("acme", key("/a0"))).toBeUndefined();
    expect(put("initech", "/i", 10)).toBe("stored");
    expect(put("globex", "/g", 10)).toBe("unknown_tenant");
    expect(cache.totalBytes()).toBe(cache.bytes("acme") + cache.bytes("initech"));
  });

  it("creates a tenant's partition on its first store, not when it is configured", () => {
    const { cache, put, bytes } = setup({
      acme: { maxBytes: 1_000, maxEntries: 3 },
      globex: roomy,
      initech: roomy,
    });
    expect(cache.partitionCount).toBe(0);
    // Configured but empty: known, with its limits, reporting 0 bytes.
    expect(cache.has("acme")).toBe(true);
    expect(cache.objectLimit("acme")).toBe(1_000);
    expect(bytes.get("acme")).toBe(0);
    expect(cache.bytes("acme")).toBe(0);
    expect(cache.entries("acme")).toBe(0);
    expect(cache.get("acme", key("/a"))).toBeUndefined();
    expect(cache.variants("acme", key("/a"))).toEqual([]);
    expect(cache.purge("acme")).toBe(0);
    expect(cache.deleteUrl("acme", key("/a"))).toBe(0);
    expect(cache.delete("acme", key("/a"))).toBe(false);
    // A refused store allocates nothing either.
    expect(put("acme", "/big", 2_000)).toBe("too_large");
    expect(put("nobody", "/a", 1)).toBe("unknown_tenant");
    // A quota change before any store keeps it lazy.
    cache.setTenants(
      new Map([
        ["acme", { maxBytes: 1_000, maxEntries: 3 }],
        ["globex", { maxBytes: 50_000, maxEntries: 10 }],
        ["initech", roomy],
      ]),
    );
    expect(cache.partitionCount).toBe(0);
    expect(bytes.get("globex")).toBe(0);
    expect(cache.objectLimit("globex")).toBe(50_000);

    expect(put("acme", "/a0", 100)).toBe("stored");
    expect(cache.partitionCount).toBe(1);
    // Quotas hold on the lazily created partition: entry count, then bytes.
    for (let i = 1; i < 5; i++) put("acme", `/a${i}`, 100);
    expect(cache.entries("acme")).toBe(3);
    expect(cache.get("acme", key("/a4"))).toBeDefined();
    expect(cache.get("acme", key("/a1"))).toBeUndefined();
    for (let i = 0; i < 20; i++) put("acme", `/b${i}`, 300);
    expect(cache.bytes("acme")).toBeLessThanOrEqual(1_000);
    expect(cache.entries("acme")).toBe(3);
    expect(cache.totalBytes()).toBe(cache.bytes("acme"));
    expect(bytes.get("acme")).toBe(cache.bytes("acme"));
    expect(cache.partitionCount).toBe(1);

    // A removed tenant goes with its partition; one that never stored reports 0 too.
    bytes.clear();
    cache.setTenants(new Map([["globex", roomy]]));
    expect(cache.partitionCount).toBe(0);
    expect(cache.has("acme")).toBe(false);
    expect(bytes.get("acme")).toBe(0);
    expect(bytes.get("initech")).toBe(0);
    expect(cache.totalBytes()).toBe(0);
    expect(put("acme", "/a", 10)).toBe("unknown_tenant");
  });

  it("a tenant without a partition cannot take room from a full global cap, and gets none", () => {
    const { cache, put } = setup(
      { acme: roomy, globex: roomy },
      { maxBytes: 300, maxObjectBytes: 1_000 },
    );
    put("acme", "/a", 250);
    expect(put("globex", "/g", 100)).toBe("global_cap");
    expect(cache.partitionCount).toBe(1);
    expect(cache.has("globex")).toBe(true);
  });

  it("evicts for the entry count and keeps recency on a resize", () => {
    const { cache, put, evictions } = setup({ acme: { maxBytes: 100_000, maxEntries: 5 } });
    for (let i = 0; i < 5; i++) put("acme", `/a${i}`, 10);
    cache.get("acme", key("/a0"));
    put("acme", "/a5", 10);
    expect(evictions).toEqual(["acme"]);
    expect(cache.get("acme", key("/a0"))).toBeDefined();
    expect(cache.get("acme", key("/a1"))).toBeUndefined();
    cache.setTenants(new Map([["acme", { maxBytes: 100_000, maxEntries: 2 }]]));
    expect(cache.entries("acme")).toBe(2);
    expect(evictions).toHaveLength(4);
    expect(cache.get("acme", key("/a5"))).toBeDefined();
    expect(cache.get("acme", key("/a0"))).toBeDefined();
    expect(cache.totalBytes()).toBe(cache.bytes("acme"));
  });
});
