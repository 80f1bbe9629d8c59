import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfigText } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { diffPolicies, renderLine } from "./diff.js";
import { globCovers } from "./glob-cover.js";

const NOW = new Date("2026-06-01T00:00:00Z");
const LATER = "2027-01-01T00:00:00Z";
const FILES = { ca: "ca.crt", cert: "x.crt", key: "x.key" };

type Grant = Record<string, unknown>;

function grant(overrides: Grant = {}): Grant {
  return {
    from: "globex",
    to: "acme",
    methods: ["GET"],
    paths: ["/tenants/acme/reports/**"],
    expires: LATER,
    ...overrides,
  };
}

/** A validated config: three tenants, the usual path rule, `extra` merged on top. */
function config(grants: Grant[], extra: Record<string, unknown> = {}): Config {
  return parseConfigText(
    stringify({
      service: "orders",
      trustDomain: "mesh.local",
      inbound: { target: { path: "/tenants/{tenant}/**" } },
      tenants: { acme: FILES, globex: FILES, initech: FILES },
      grants,
      ...extra,
    }),
    "test.yaml",
  );
}

function diff(before: Config, after: Config): { lines: string[]; widens: boolean } {
  const result = diffPolicies(before, after, NOW);
  return { lines: result.lines.map(renderLine), widens: result.widens };
}

describe("check --diff: grants", () => {
  it("a new grant opens its paths, one line per method and glob", () => {
    const added = grant({
      methods: ["GET", "POST"],
      paths: ["/tenants/acme/a/**", "/tenants/acme/b"],
    });
    expect(diff(config([]), config([added]))).toEqual({
      lines: [
        "+ globex -> acme GET /tenants/acme/a/**",
        "+ globex -> acme GET /tenants/acme/b",
        "+ globex -> acme POST /tenants/acme/a/**",
        "+ globex -> acme POST /tenants/acme/b",
      ],
      widens: true,
    });
  });

  it("a removed grant closes its paths and does not widen", () => {
    expect(diff(config([grant()]), config([]))).toEqual({
      lines: ["- globex -> acme GET /tenants/acme/reports/**"],
      widens: false,
    });
  });

  it("an unchanged policy prints nothing, whatever else changed", () => {
    const before = config([grant()]);
    const after = config([grant({ id: "reports" })], { drainTimeout: "5s" });
    expect(diff(before, after)).toEqual({ lines: [], widens: false });
  });

  it("a widened glob prints the new line as opening and the old one as covered", () => {
    const before = config([grant({ paths: ["/tenants/acme/reports/q3/**"] })]);
    const after = config([grant({ paths: ["/tenants/acme/reports/**"] })]);
    expect(diff(before, after)).toEqual({
      lines: [
        "+ globex -> acme GET /tenants/acme/reports/**",
        "- globex -> acme GET /tenants/acme/reports/q3/** (still open under /tenants/acme/reports/**)",
      ],
      widens: true,
    });
  });

  it("a narrowed glob closes the old line and never counts as widening", () => {
    const before = config([grant({ paths: ["/tenants/acme/reports/**"] })]);
    const after = config([grant({ paths: ["/tenants/acme/reports/q3/*"] })]);
    expect(diff(before, after)).toEqual({
      lines: [
        "- globex -> acme GET /tenants/acme/reports/**",
        "+ globex -> acme GET /tenants/acme/reports/q3/* (already open under /tenants/acme/reports/**)",
      ],
      widens: false,
    });
  });

  it("an added method opens; HEAD comes with GET and is not listed beside it", () => {
    const before = config([grant({ methods: ["GET"] })]);
    const after = config([grant({ methods: ["GET", "DELETE"] })]);
    expect(diff(before, after).lines).toEqual(["+ globex -> acme DELETE /tenants/acme/reports/**"]);
    const headOnly = config([grant({ methods: ["HEAD"] })]);
    expect(diff(headOnly, before).lines).toEqual(["+ globex -> acme GET /tenants/acme/reports/**"]);
  });

  it("expired, audit-mode and disabled grants open nothing", () => {
    const inert = [
      grant({ expires: "2026-05-31T23:59:59Z" }),
      grant({ mode: "audit" }),
      grant({ enabled: false }),
    ];
    for (const g of inert)
      expect(diff(config([]), config([g]))).toEqual({ lines: [], widens: false });
    // Switching an audit grant to enforce is exactly what opens the path.
    expect(diff(config([grant({ mode: "audit" })]), config([grant()])).lines).toEqual([
      "+ globex -> acme GET /tenants/acme/reports/**",
    ]);
  });

  it("renewing an expired grant opens its paths again", () => {
    const expired = config([grant({ expires: "2026-01-01T00:00:00Z" })]);
    expect(diff(expired, config([grant()])).widens).toBe(true);
  });

  it("a revoked tenant's grants open nothing; reinstating it reopens them", () => {
    const tenants = { acme: { ...FILES, revoked: true }, globex: FILES, initech: FILES };
    const revoked = config([grant()], { tenants });
    expect(diff(config([grant()]), revoked)).toEqual({
      lines: ["- globex -> acme GET /tenants/acme/reports/**"],
      widens: false,
    });
    expect(diff(revoked, config([grant()])).lines).toEqual([
      "+ globex -> acme GET /tenants/acme/reports/**",
    ]);
  });

  it("revealing more of the response opens, revealing less closes", () => {
    const plainEmail = config([grant({ fields: ["id", "email"] })]);
    const whole = config([grant()]);
    const hashed = config([grant({ fields: ["id", { path: "email", mask: "hash" }] })], {
      projection: { hashKeyFile: "k" },
    });
    expect(diff(hashed, plainEmail)).toEqual({
      lines: [
        "+ globex -> acme GET /tenants/acme/reports/** fields: id, email (was id, email (hash))",
      ],
      widens: true,
    });
    expect(diff(plainEmail, whole)).toEqual({
      lines: ["+ globex -> acme GET /tenants/acme/reports/** (was id, email)"],
      widens: true,
    });
    expect(diff(whole, plainEmail)).toEqual({
      lines: [
        "- globex -> acme GET /tenants/acme/reports/** fields: id, email (was whole responses)",
      ],
      widens: false,
    });
  });

  it("a mask that reveals less, or a field inside one kept whole, is no widening", () => {
    const truncated = (n: number) =>
      config([grant({ fields: ["id", { path: "name", mask: `truncate:${n}` }] })]);
    expect(diff(truncated(8), truncated(4)).widens).toBe(false);
    expect(diff(truncated(4), truncated(8)).widens).toBe(true);
    const items = config([grant({ fields: ["items"] })]);
    const itemIds = config([grant({ fields: ["items[].id"] })]);
    expect(diff(items, itemIds)).toEqual({
      lines: ["- globex -> acme GET /tenants/acme/reports/** fields: items[].id (was items)"],
      widens: false,
    });
  });

  it("is deterministic and sorted, whatever the grants' order", () => {
    const a = grant({ from: "initech", paths: ["/tenants/acme/x"] });
    const b = grant({ to: "initech", paths: ["/tenants/initech/y"] });
    const forward = diff(config([]), config([a, b])).lines;
    expect(diff(config([]), config([b, a])).lines).toEqual(forward);
    expect(forward).toEqual([...forward].sort());
  });
});

describe("check --diff: other guards", () => {
  it("a dropped target source opens, an added one closes", () => {
    const pathRule = config([]);
    const headerRule = config([], { inbound: { target: { header: "x-target-tenant" } } });
    expect(diff(pathRule, headerRule)).toEqual({
      lines: [
        '+ * -> * inbound: target tenant no longer read from path "/tenants/{tenant}/**"; such requests count as the caller\'s own',
        '- * -> * inbound: target tenant read from header "x-target-tenant"',
      ],
      widens: true,
    });
    const none = config([], { inbound: { target: {} } });
    expect(diff(pathRule, none).lines).toContain(
      "+ * -> * inbound: no target rule; every request counts as the caller's own",
    );
  });

  it("allowing unsigned tenants and dropping a stripped header open", () => {
    const before = config([], {
      inbound: { target: { path: "/t/{tenant}" }, stripHeaders: ["x-tenant-id"] },
    });
    const after = config([], {
      inbound: { target: { path: "/t/{tenant}" } },
      outbound: { allowUnsignedTenant: true },
    });
    expect(diff(before, after)).toEqual({
      lines: [
        '+ * -> * inbound: header "x-tenant-id" from the network reaches the app',
        "+ app -> * outbound: the app may name the calling tenant with a plain header (allowUnsignedTenant)",
      ],
      widens: true,
    });
  });

  it("an added upstream without a target rule opens; with one it changes nothing", () => {
    const upstream = (target: Record<string, string>) => ({
      outbound: { upstreams: { billing: { url: "https://billing:15006", target } } },
    });
    expect(diff(config([]), config([], upstream({}))).lines).toEqual([
      "+ * -> * outbound billing: no target rule; every request counts as the caller's own",
    ]);
    expect(diff(config([]), config([], upstream({ path: "/t/{tenant}/**" }))).lines).toEqual([]);
  });

  it("residency: a region added to a tenant or a grant opens, a removed one closes", () => {
    const tenants = (regions?: string[]) => ({
      tenants: {
        acme: { ...FILES, ...(regions ? { regions } : {}) },
        globex: FILES,
        initech: FILES,
      },
    });
    expect(diff(config([], tenants(["eu"])), config([], tenants(["eu", "us"])))).toEqual({
      lines: ["+ acme: data may be served in region us"],
      widens: true,
    });
    expect(diff(config([], tenants(["eu", "us"])), config([], tenants(["eu"]))).widens).toBe(false);
    expect(diff(config([], tenants(["eu"])), config([], tenants())).lines).toEqual([
      "+ acme: data may be served in any region",
      "- acme: data no longer served in region eu",
    ]);
    expect(diff(config([grant()]), config([grant({ regions: ["us"] })])).lines).toEqual([
      "+ globex -> acme: acme's data may be served in region us under a grant",
    ]);
  });

  it("adding or removing a tenant is not itself a path change", () => {
    const two = config([], { tenants: { acme: FILES, globex: FILES } });
    expect(diff(two, config([]))).toEqual({ lines: [], widens: false });
    expect(diff(config([]), two)).toEqual({ lines: [], widens: false });
  });
});

describe("globCovers", () => {
  it.each([
    ["/a/**", "/a/b/c", true],
    ["/a/**", "/a", true],
    ["/a/**", "/a/", true],
    ["/a/**", "/a/*/c", true],
    ["/a/**", "/a/**", true],
    ["/a/*", "/a/b", true],
    ["/a/*", "/a/*", true],
    ["/a/*", "/a/", false],
    ["/a/*", "/a/**", false],
    ["/a/*/c", "/a/**/c", false],
    ["/a/**/c", "/a/b/x/c", true],
    ["/a/b", "/a/*", false],
    ["/a/b", "/a/b/", false],
    ["/a/q3/**", "/a/**", false],
    ["/**", "/anything/**", true],
  ])("%s covers %s: %s", (outer, inner, expected) => {
    expect(globCovers(outer, inner)).toBe(expected);
  });
});
