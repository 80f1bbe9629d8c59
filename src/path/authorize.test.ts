import { describe, expect, it } from "vitest";
import type { GrantConfig } from "../config/schema.js";
import { authorize } from "./authorize.js";
import type { RequestContext } from "./context.js";
import type { ProxyError } from "./errors.js";
import { resolveRoute } from "./route.js";
import { readHeaders } from "./request-head.js";
import { testContext, testGeneration } from "./test-support.js";

const reports: GrantConfig = {
  id: "globex-reports",
  from: "globex",
  to: "acme",
  methods: ["GET"],
  paths: ["/tenants/acme/reports/**"],
  expires: new Date("2027-01-01T00:00:00Z"),
  enabled: true,
  mode: "enforce",
};
const expired: GrantConfig = {
  ...reports,
  id: "globex-orders-expired",
  paths: ["/tenants/acme/orders/**"],
  expires: new Date("2026-01-01T00:00:00Z"),
};
const trial: GrantConfig = {
  ...reports,
  id: "globex-reports-trial",
  paths: ["/tenants/acme/**"],
  mode: "audit",
};
const generation = testGeneration(["acme", "globex"], { grants: [reports, expired, trial] });

/** `caller`'s request, routed as the inbound path does, ready for authorize. */
function request(caller: string, method: string, url: string): RequestContext {
  const ctx = testContext("inbound", generation, { method, url, headers: [["host", "orders"]] });
  readHeaders(ctx);
  ctx.tenant = caller;
  ctx.route = resolveRoute(generation.inboundTarget, url, ctx.headers);
  return ctx;
}

function refusal(ctx: RequestContext): string | undefined {
  try {
    authorize(ctx);
    return undefined;
  } catch (err) {
    return (err as ProxyError).code;
  }
}

describe("authorize", () => {
  it("allows the caller's own tenant without a grant", () => {
    const ctx = request("acme", "DELETE", "/tenants/acme/orders/1?x=1");
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record).toMatchObject({
      decision: "allow",
      target: "acme",
      path: "/tenants/acme/orders/1",
    });
    expect(ctx.grant).toBeUndefined();
  });

  it("allows another tenant's path through an active grant, and records which", () => {
    const ctx = request("globex", "GET", "/tenants/acme/reports/q1");
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record).toMatchObject({ decision: "grant", grantId: "globex-reports" });
    expect(ctx.grant?.id).toBe("globex-reports");
  });

  it("cross-tenant-without-grant: denied, with the target recorded for the audit line", () => {
    const ctx = request("acme", "GET", "/tenants/globex/orders");
    expect(refusal(ctx)).toBe("cross_tenant_denied");
    expect(ctx.record).toMatchObject({ target: "globex", decision: undefined });
  });

  it("grant-method-not-listed: a write under a read-only grant is denied", () => {
    expect(refusal(request("globex", "POST", "/tenants/acme/reports/q1"))).toBe(
      "cross_tenant_denied",
    );
  });

  it("expired-grant: denied at the request's clock", () => {
    expect(refusal(request("globex", "GET", "/tenants/acme/orders/1"))).toBe("cross_tenant_denied");
  });

  it("grant-one-way: the grant's target gets nothing back", () => {
    expect(refusal(request("acme", "GET", "/tenants/globex/reports/q1"))).toBe(
      "cross_tenant_denied",
    );
  });

  it("audit-mode grant: recorded beside a denial it would have turned into an allow", () => {
    const ctx = request("globex", "GET", "/tenants/acme/invoices/7");
    expect(refusal(ctx)).toBe("cross_tenant_denied");
    expect(ctx.record.policyAudit).toEqual({
      grantId: "globex-reports-trial",
      result: "would_allow",
    });
  });

  it("audit-mode grant: recorded beside an allow, which the enforced grant decided", () => {
    const ctx = request("globex", "GET", "/tenants/acme/reports/q1");
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record).toMatchObject({
      grantId: "globex-reports",
      policyAudit: { grantId: "globex-reports-trial" },
    });
  });

  it("audit-mode grant: nothing recorded where it does not match", () => {
    const ctx = request("globex", "POST", "/tenants/acme/reports/q1");
    expect(refusal(ctx)).toBe("cross_tenant_denied");
    expect(ctx.record.policyAudit).toBeUndefined();
  });
});
