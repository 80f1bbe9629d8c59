import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { lintGrants } from "./lint-grants.js";
import { lintResidency } from "./lint-residency.js";
import { parseConfigText } from "./load.js";
import type { Config } from "./schema.js";

const FILES = { ca: "ca.crt", cert: "x.crt", key: "x.key" };

function config(extra: Record<string, unknown>): Config {
  return parseConfigText(
    stringify({
      service: "orders",
      trustDomain: "mesh.local",
      tenants: { acme: { ...FILES, regions: ["eu"] }, globex: FILES },
      ...extra,
    }),
    "test.yaml",
  );
}

const upstreams = (billing: Record<string, unknown>) => ({
  outbound: { upstreams: { billing: { target: { path: "/t/{tenant}/**" }, ...billing } } },
});
const summary = (findings: { rule: string; path: string | null }[]) =>
  findings.map((f) => `${f.rule} ${f.path}`);

describe("residency lint", () => {
  it("is quiet when every restricted tenant is served here and reaches every upstream", () => {
    const endpoints = [{ url: "https://b-eu:15006", region: "eu" }];
    expect(lintResidency(config(upstreams({ endpoints })), "eu")).toEqual([]);
  });

  it("warns when a tenant can reach no endpoint of an upstream", () => {
    const endpoints = [{ url: "https://b-us:15006", region: "us" }];
    const findings = lintResidency(config(upstreams({ endpoints })), "eu");
    expect(summary(findings)).toEqual([
      "residency_no_endpoint outbound.upstreams.billing.endpoints",
    ]);
    expect(findings[0]?.message).toMatch(/tenant acme \(regions eu\) can reach no endpoint/);
    // A bare url has no region, so it proves nothing to a tenant held to regions.
    const bare = lintResidency(config(upstreams({ url: "https://b:15006" })), "eu");
    expect(summary(bare)).toEqual(["residency_no_endpoint outbound.upstreams.billing.url"]);
  });

  it("warns when the sidecar has no region but some tenant is restricted", () => {
    expect(summary(lintResidency(config({}), undefined))).toEqual([
      "residency_region_unknown region",
      "residency_region_uncovered tenants.acme.regions",
    ]);
  });

  it("warns when no sidecar or endpoint region covers a tenant's regions", () => {
    const endpoints = [{ url: "https://b-us:15006", region: "us" }];
    expect(summary(lintResidency(config(upstreams({ endpoints })), "us"))).toEqual([
      "residency_region_uncovered tenants.acme.regions",
      "residency_no_endpoint outbound.upstreams.billing.endpoints",
    ]);
  });

  it("ignores revoked tenants", () => {
    const tenants = { acme: { ...FILES, regions: ["eu"], revoked: true } };
    expect(lintResidency(config({ tenants }), undefined)).toEqual([]);
  });
});

describe("schema: residency and masks", () => {
  it("an upstream has exactly one of url and endpoints", () => {
    expect(() => config(upstreams({}))).toThrow(
      /outbound.upstreams.billing.url: an upstream has exactly one of url and endpoints/,
    );
    const both = { url: "https://b:1", endpoints: [{ url: "https://b:2", region: "eu" }] };
    expect(() => config(upstreams(both))).toThrow(
      /outbound.upstreams.billing.endpoints: an upstream has exactly one/,
    );
  });

  it("an endpoint needs a region; regions are DNS labels", () => {
    expect(() => config(upstreams({ endpoints: [{ url: "https://b:1" }] }))).toThrow(
      /endpoints.0.region/,
    );
    expect(() => config({ region: "EU" })).toThrow(/region: expected a region name/);
    expect(() => config({ tenants: { acme: { ...FILES, regions: [] } } })).toThrow(
      /tenants.acme.regions/,
    );
  });

  it("a hash mask without projection.hashKeyFile names the mask's key path", () => {
    const grants = [
      {
        from: "globex",
        to: "acme",
        methods: ["GET"],
        paths: ["/t/acme/x"],
        expires: "2099-01-01T00:00:00Z",
        fields: ["id", { path: "email", mask: "hash" }],
      },
    ];
    expect(() => config({ grants })).toThrow(
      /grants.0.fields.1.mask: a hash mask needs projection.hashKeyFile/,
    );
    expect(() => config({ grants, projection: { hashKeyFile: "hash.key" } })).not.toThrow();
  });

  it.each(["truncate:0", "truncate:x", "blur"])("refuses the mask %s", (mask) => {
    const grants = [
      {
        from: "globex",
        to: "acme",
        methods: ["GET"],
        paths: ["/x"],
        expires: "2099-01-01T00:00:00Z",
        fields: [{ path: "a", mask }],
      },
    ];
    expect(() => config({ grants })).toThrow(/grants.0.fields.0/);
  });
});

describe("grant field lint", () => {
  const grant = (fields: unknown[]) => ({
    from: "globex",
    to: "acme",
    methods: ["GET"],
    paths: ["/t/acme/x"],
    expires: "2099-01-01T00:00:00Z",
    fields,
  });
  const now = new Date("2026-06-01T00:00:00Z");

  it("warns on a field listed twice, refuses a masked one listed again or inside a kept one", () => {
    const c = config({
      grants: [
        grant(["id", "id"]),
        grant(["email", { path: "email", mask: "redact" }]),
        grant(["owner", { path: "owner.email", mask: "redact" }]),
        grant(["id", { path: "email", mask: "hash" }]),
      ],
      projection: { hashKeyFile: "hash.key" },
    });
    const found = summary(lintGrants(c, now)).filter((f) => f.includes("field"));
    expect(found).toEqual([
      "grant_duplicate_field grants.0.fields.1",
      "grant_invalid_fields grants.1.fields",
      "grant_invalid_fields grants.2.fields",
    ]);
  });
});
