import { describe, expect, it } from "vitest";
import type { GrantConfig } from "../config/schema.js";
import { compileGrants, GrantConfigError, type GrantRequest } from "./grants.js";
import { project } from "./projection.js";
import { canonicalPath } from "./request-path.js";

const NOW = Date.parse("2026-06-01T00:00:00Z");
const LATER = new Date("2027-01-01T00:00:00Z");

function grant(overrides: Partial<GrantConfig> = {}): GrantConfig {
  return {
    from: "globex",
    to: "acme",
    methods: ["GET"],
    paths: ["/tenants/acme/reports/**"],
    expires: LATER,
    enabled: true,
    mode: "enforce",
    ...overrides,
  };
}

function request(raw: string, overrides: Partial<GrantRequest> = {}): GrantRequest {
  const path = canonicalPath(raw);
  if (!path.ok) throw new Error(`test path refused: ${path.reason}`);
  return {
    from: "globex",
    to: "acme",
    method: "GET",
    segments: path.segments,
    now: NOW,
    ...overrides,
  };
}

describe("GrantTable.match", () => {
  const table = compileGrants([grant()]);

  it("allows the granted method on a granted path", () => {
    expect(table.match(request("/tenants/acme/reports/q1"))?.id).toBe("globex->acme#0");
    expect(table.match(request("/tenants/acme/reports"))).toBeDefined();
  });

  it("allows HEAD where GET is granted", () => {
    expect(table.match(request("/tenants/acme/reports/q1", { method: "HEAD" }))).toBeDefined();
  });

  it.each(["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "CONNECT", "TRACE", ""])(
    "denies method %j that is not granted",
    (method) => {
      expect(table.match(request("/tenants/acme/reports/q1", { method }))).toBeUndefined();
    },
  );

  it("does not grant GET where only HEAD is granted", () => {
    const headOnly = compileGrants([grant({ methods: ["HEAD"] })]);
    expect(headOnly.match(request("/tenants/acme/reports/q1", { method: "HEAD" }))).toBeDefined();
    expect(headOnly.match(request("/tenants/acme/reports/q1"))).toBeUndefined();
  });

  it.each([
    "/tenants/acme/invoices/1",
    "/tenants/acme/reportsx",
    "/tenants/acme",
    "/tenants/acme/Reports/q1",
    "/",
  ])("denies path %s outside the globs", (raw) => {
    expect(table.match(request(raw))).toBeUndefined();
  });

  it("matches only its own caller and target", () => {
    expect(table.match(request("/tenants/acme/reports/q1", { from: "initech" }))).toBeUndefined();
    expect(table.match(request("/tenants/acme/reports/q1", { to: "initech" }))).toBeUndefined();
    // A grant is one-way.
    expect(
      table.match(request("/tenants/acme/reports/q1", { from: "acme", to: "globex" })),
    ).toBeUndefined();
  });

  it("denies once the grant expires, exactly at its expiry", () => {
    const at = LATER.getTime();
    expect(table.match(request("/tenants/acme/reports/q1", { now: at - 1 }))).toBeDefined();
    expect(table.match(request("/tenants/acme/reports/q1", { now: at }))).toBeUndefined();
    expect(table.match(request("/tenants/acme/reports/q1", { now: at + 1 }))).toBeUndefined();
  });

  it("denies an invalid expiry", () => {
    const broken = compileGrants([grant({ expires: new Date("not a date") })]);
    expect(broken.match(request("/tenants/acme/reports/q1"))).toBeUndefined();
  });

  it("denies a disabled grant and reports it omitted", () => {
    const disabled = compileGrants([grant({ enabled: false })]);
    expect(disabled.match(request("/tenants/acme/reports/q1"))).toBeUndefined();
    expect(disabled.omitted).toMatchObject([{ id: "globex->acme#0", reason: "disabled" }]);
    expect(disabled.grants).toEqual([]);
  });

  it("denies everything with no grants", () => {
    expect(compileGrants([]).match(request("/tenants/acme/reports/q1"))).toBeUndefined();
  });

  it("checks every path glob and every grant of the pair, in config order", () => {
    const several = compileGrants([
      grant({ id: "expired", expires: new Date(NOW - 1), paths: ["/tenants/acme/**"] }),
      grant({ id: "writes", methods: ["POST"], paths: ["/tenants/acme/**"] }),
      grant({ id: "reads", paths: ["/tenants/acme/a/*", "/tenants/acme/b/**"], fields: ["id"] }),
      grant({ id: "wide", paths: ["/tenants/acme/**"] }),
    ]);
    expect(several.match(request("/tenants/acme/a/1"))?.id).toBe("reads");
    expect(several.match(request("/tenants/acme/b/1/2"))?.id).toBe("reads");
    expect(several.match(request("/tenants/acme/c"))?.id).toBe("wide");
    expect(several.match(request("/tenants/acme/c", { method: "POST" }))?.id).toBe("writes");
    expect(several.match(request("/tenants/acme/c", { method: "DELETE" }))).toBeUndefined();
  });
});

describe("compileGrants", () => {
  it("uses the configured id, else one from the pair and config index", () => {
    const table = compileGrants([grant({ id: "reports" }), grant({ from: "initech" })]);
    expect(table.grants.map((g) => g.id)).toEqual(["reports", "initech->acme#1"]);
  });

  it("keeps generated ids stable when earlier grants are omitted", () => {
    const table = compileGrants([grant({ from: "initech" }), grant()], {
      tenants: new Set(["globex", "acme"]),
    });
    expect(table.grants.map((g) => g.id)).toEqual(["globex->acme#1"]);
  });

  it("compiles fields into a projection and keeps the config", () => {
    const config = grant({ fields: ["id", "total"] });
    const compiled = compileGrants([config]).match(request("/tenants/acme/reports/q1"));
    expect(compiled?.config).toBe(config);
    expect(compiled?.fields && project({ id: 1, total: 2, secret: 3 }, compiled.fields)).toEqual({
      id: 1,
      total: 2,
    });
    expect(compileGrants([grant()]).grants[0]?.fields).toBeUndefined();
  });

  it("drops grants naming a revoked or removed tenant", () => {
    const grants = [
      grant({ id: "globex-acme" }),
      grant({ id: "acme-globex", from: "acme", to: "globex", paths: ["/**"] }),
    ];
    const table = compileGrants(grants, { tenants: new Set(["acme", "initech"]) });
    expect(table.match(request("/tenants/acme/reports/q1"))).toBeUndefined();
    expect(
      table.match(request("/tenants/globex/x", { from: "acme", to: "globex" })),
    ).toBeUndefined();
    expect(table.grants).toEqual([]);
    expect(table.omitted.map((o) => [o.id, o.reason])).toEqual([
      ["globex-acme", "inactive_tenant"],
      ["acme-globex", "inactive_tenant"],
    ]);
  });

  it("lists a tenant's grants in either direction", () => {
    const table = compileGrants([
      grant({ id: "a" }),
      grant({ id: "b", from: "acme", to: "initech" }),
      grant({ id: "c", from: "initech", to: "umbrella" }),
    ]);
    expect(table.forTenant("acme").map((g) => g.id)).toEqual(["a", "b"]);
    expect(table.forTenant("globex").map((g) => g.id)).toEqual(["a"]);
    expect(table.forTenant("nobody")).toEqual([]);
  });

  it("refuses a bad path glob, naming its key path", () => {
    expect(() =>
      compileGrants([grant(), grant({ paths: ["/ok/**", "/tenants/acme/../x"] })]),
    ).toThrow(GrantConfigError);
    expect(() => compileGrants([grant({ paths: ["/ok/**", "/a%2fb"] })])).toThrow(
      /^grants\.0\.paths\.1: /,
    );
  });

  it("refuses a bad glob even in a grant it would omit", () => {
    expect(() => compileGrants([grant({ enabled: false, paths: ["/a/*x"] })])).toThrow(
      /grants\.0\.paths\.0/,
    );
  });

  it("refuses bad fields, naming the key path", () => {
    expect(() => compileGrants([grant({ fields: ["items[].id", "items.id"] })])).toThrow(
      /^grants\.0\.fields: /,
    );
  });

  it("refuses duplicate ids", () => {
    expect(() => compileGrants([grant({ id: "x" }), grant({ id: "x", from: "initech" })])).toThrow(
      /grants\.1\.id: duplicate grant id "x"/,
    );
  });
});
