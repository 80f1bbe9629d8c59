import { describe, expect, it } from "vitest";
import { LiveStats, OTHER_PEER } from "./stats.js";
import { label, record } from "./test-support.js";

const T0 = 1_800_000_000_000;

function stats(overrides: Partial<ConstructorParameters<typeof LiveStats>[0]> = {}): LiveStats {
  return new LiveStats({
    label,
    windowSeconds: 10,
    maxPeersPerTenant: 4,
    maxKeys: 64,
    ...overrides,
  });
}

describe("window statistics for top", () => {
  it("reports rps, success rate, quantiles and denials per direction, tenant and peer", () => {
    const s = stats();
    for (let i = 1; i <= 100; i++) s.add(record({ service: "web", ms: i }), T0 + i * 10);
    for (let i = 0; i < 5; i++)
      s.add(record({ service: "web", target: "globex", code: "cross_tenant_denied" }), T0);
    s.add(record({ service: "web", status: 502, code: "upstream_unavailable" }), T0);
    const [row, ...others] = s.top(T0 + 2_000);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ direction: "inbound", tenant: "acme", peer: "web", requests: 106 });
    expect(row?.rps).toBe(10.6);
    expect(row?.denials).toBe(5);
    expect(row?.successRate).toBeCloseTo(100 / 106, 3);
    // Bucket upper bounds: within one bucket (25 %) above the true value.
    expect(row?.p50Ms).toBeGreaterThanOrEqual(50);
    expect(row?.p50Ms).toBeLessThanOrEqual(50 * 1.25);
    expect(row?.p99Ms).toBeGreaterThanOrEqual(98);
    expect(row?.p99Ms).toBeLessThanOrEqual(100 * 1.25);
  });

  it("slides: a second older than the window no longer counts, and an idle key is forgotten", () => {
    const s = stats();
    s.add(record({ service: "web" }), T0);
    s.add(record({ service: "web" }), T0 + 5_000);
    expect(s.top(T0 + 9_999)[0]?.requests).toBe(2);
    expect(s.top(T0 + 10_000)[0]?.requests).toBe(1);
    expect(s.top(T0 + 15_000)).toEqual([]);
    expect(s.size.windows).toBe(0);
  });

  it("reuses a bucket when its second comes round again", () => {
    const s = stats();
    s.add(record({ service: "web" }), T0);
    s.add(record({ service: "web" }), T0 + 10_000); // same slot, ten seconds later
    expect(s.top(T0 + 10_000)[0]?.requests).toBe(1);
  });

  it("labels tenants as metrics do and keys outbound rows by upstream", () => {
    const s = stats();
    s.add(record({ tenant: "hooli", service: "web" }), T0);
    s.add(record({ direction: "outbound", upstream: "billing" }), T0);
    const rows = s.top(T0).map((r) => `${r.direction} ${r.tenant} ${r.peer}`);
    expect(rows.sort()).toEqual(["inbound unknown web", "outbound acme billing"]);
  });
});

describe("bounded keys", () => {
  it("folds peers past the per-tenant cap into `other`", () => {
    const s = stats();
    for (let i = 0; i < 50; i++) s.add(record({ service: `svc-${i}` }), T0);
    const peers = s.top(T0).map((r) => r.peer);
    expect(peers).toHaveLength(5);
    expect(peers).toContain(OTHER_PEER);
    expect(s.top(T0).find((r) => r.peer === OTHER_PEER)?.requests).toBe(46);
  });

  it("holds at most maxKeys (+ one overflow) under a flood of invented tenants and peers", () => {
    const s = stats({ maxPeersPerTenant: 1_000_000, maxKeys: 64 });
    const invented = (i: number) => `t${i}`;
    for (let i = 0; i < 100_000; i++) {
      s.add(
        record({ tenant: "acme", service: `p${i}`, target: invented(i), grantId: `g${i}` }),
        T0,
      );
    }
    expect(s.size.windows).toBeLessThanOrEqual(65);
    expect(s.size.cells).toBeLessThanOrEqual(65);
    expect(s.size.grants).toBeLessThanOrEqual(64);
    const total = s.top(T0).reduce((sum, r) => sum + r.requests, 0);
    expect(total).toBe(100_000);
  });
});

describe("since start: matrix and grant uses", () => {
  it("counts allowed, granted and denied calls per caller and target, not other refusals", () => {
    const s = stats();
    s.add(record({ tenant: "acme" }), T0);
    s.add(record({ tenant: "globex", target: "acme", decision: "grant", grantId: "g1" }), T0);
    s.add(record({ tenant: "globex", target: "acme", decision: "grant", grantId: "g1" }), T0);
    s.add(
      record({ tenant: "initech", target: "acme", code: "cross_tenant_denied", decision: "deny" }),
      T0,
    );
    s.add(record({ tenant: "acme", code: "rate_limited", status: 429 }), T0);
    expect(s.matrix()).toEqual(
      expect.arrayContaining([
        { caller: "acme", target: "acme", allowed: 1, granted: 0, denied: 0 },
        { caller: "globex", target: "acme", allowed: 0, granted: 2, denied: 0 },
        { caller: "initech", target: "acme", allowed: 0, granted: 0, denied: 1 },
      ]),
    );
    expect(s.matrix()).toHaveLength(3);
    expect(s.grantUses("g1")).toBe(2);
    expect(s.grantUses("g2")).toBe(0);
  });
});
