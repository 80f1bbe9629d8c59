import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";

async function auditSeries(metrics: Metrics): Promise<Record<string, number>> {
  const metric = await metrics.registry.getSingleMetric("palisade_policy_audit_total")?.get();
  return Object.fromEntries(
    (metric?.values ?? []).map((v) => [
      `${v.labels["tenant"]}->${v.labels["target"]} ${v.labels["result"]}`,
      v.value,
    ]),
  );
}

describe("palisade_policy_audit_total", () => {
  it("counts would_allow per caller and target tenant", async () => {
    const metrics = new Metrics("orders");
    metrics.setTenants(["acme", "globex"]);
    metrics.policyAudit("globex", "acme", "would_allow");
    metrics.policyAudit("globex", "acme", "would_allow");
    expect(await auditSeries(metrics)).toEqual({ "globex->acme would_allow": 2 });
  });

  it("labels only configured tenants: invented ones add no series", async () => {
    const metrics = new Metrics("orders");
    metrics.setTenants(["acme"]);
    for (let i = 0; i < 100; i++) metrics.policyAudit(`invented-${i}`, `other-${i}`, "would_allow");
    expect(await auditSeries(metrics)).toEqual({ "unknown->unknown would_allow": 100 });
  });
});
