import { describe, expect, it } from "vitest";
import type { GrantConfig } from "../config/schema.js";
import { decideAccess } from "./decide.js";
import { compileGrants } from "./grants.js";
import { canonicalPath } from "./request-path.js";

const NOW = Date.parse("2026-06-01T00:00:00Z");

function grant(overrides: Partial<GrantConfig> = {}): GrantConfig {
  return {
    from: "globex",
    to: "acme",
    methods: ["GET"],
    paths: ["/tenants/acme/reports/**"],
    expires: new Date("2027-01-01T00:00:00Z"),
    enabled: true,
    mode: "enforce",
    ...overrides,
  };
}

function decide(
  grants: GrantConfig[],
  raw: string,
  overrides: { method?: string; now?: number } = {},
) {
  const path = canonicalPath(raw);
  if (!path.ok) throw new Error(path.reason);
  return decideAccess(compileGrants(grants, { tenants: new Set(["acme", "globex"]) }), {
    caller: "globex",
    target: "acme",
    method: overrides.method ?? "GET",
    segments: path.segments,
    now: overrides.now ?? NOW,
  });
}

describe("audit-mode grants", () => {
  it("never allow: the request is denied and the audit grant reported as would_allow", () => {
    const decision = decide([grant({ id: "dry-run", mode: "audit" })], "/tenants/acme/reports/q3");
    expect(decision).toMatchObject({
      allow: false,
      code: "cross_tenant_denied",
      audit: { grant: { id: "dry-run", mode: "audit" }, result: "would_allow" },
    });
  });

  it("leave an enforced decision as it is, reported beside it", () => {
    const decision = decide(
      [grant({ id: "live" }), grant({ id: "dry-run", mode: "audit" })],
      "/tenants/acme/reports/q3",
    );
    expect(decision.allow).toBe(true);
    expect(decision.allow && decision.grant?.id).toBe("live");
    expect(decision.audit?.grant.id).toBe("dry-run");
  });

  it("match like enforced grants: method, path and expiry", () => {
    const audit = [grant({ mode: "audit" })];
    expect(decide(audit, "/tenants/acme/other").audit).toBeUndefined();
    expect(decide(audit, "/tenants/acme/reports/x", { method: "DELETE" }).audit).toBeUndefined();
    expect(decide(audit, "/tenants/acme/reports/x", { method: "HEAD" }).audit).toBeDefined();
    const later = Date.parse("2027-01-01T00:00:00Z");
    expect(decide(audit, "/tenants/acme/reports/x", { now: later }).audit).toBeUndefined();
  });

  it("are left out when disabled or naming an inactive tenant", () => {
    expect(
      decide([grant({ mode: "audit", enabled: false })], "/tenants/acme/reports/x").audit,
    ).toBeUndefined();
    const table = compileGrants([grant({ mode: "audit" })], { tenants: new Set(["globex"]) });
    expect(table.omitted.map((o) => o.reason)).toEqual(["inactive_tenant"]);
  });

  it("switching one to enforce is what allows (the same table, compiled again)", () => {
    const path = "/tenants/acme/reports/q3";
    expect(decide([grant({ mode: "audit" })], path).allow).toBe(false);
    expect(decide([grant({ mode: "enforce" })], path)).toMatchObject({ allow: true });
    expect(decide([grant({ mode: "enforce" })], path).audit).toBeUndefined();
  });

  it("same-tenant requests carry no audit", () => {
    const table = compileGrants([grant({ mode: "audit" })]);
    const decision = decideAccess(table, {
      caller: "acme",
      target: "acme",
      method: "GET",
      segments: ["tenants", "acme", "reports", "x"],
      now: NOW,
    });
    expect(decision).toEqual({ allow: true, grant: undefined });
  });
});
