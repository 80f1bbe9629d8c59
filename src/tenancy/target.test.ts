import { describe, expect, it } from "vitest";
import { compileTargetRule } from "./target.js";

const input = (segments: string[], host?: string, header?: string[]) => ({
  segments,
  host,
  header,
});

describe("compileTargetRule", () => {
  const rule = compileTargetRule({
    path: "/tenants/{tenant}/**",
    host: "{tenant}.api.example",
    header: "x-target-tenant",
  });

  it("reads the tenant from the path, the host or the header", () => {
    expect(rule.resolve(input(["tenants", "acme", "orders"]))).toEqual({
      ok: true,
      target: "acme",
    });
    expect(rule.resolve(input(["x"], "globex.api.example:8443"))).toEqual({
      ok: true,
      target: "globex",
    });
    expect(rule.resolve(input(["x"], undefined, ["initech"]))).toEqual({
      ok: true,
      target: "initech",
    });
    expect(rule.resolve(input(["health"], "localhost"))).toEqual({ ok: true, target: undefined });
  });

  it("requires every present source to agree", () => {
    expect(rule.resolve(input(["tenants", "acme"], "globex.api.example"))).toEqual({
      ok: false,
      reason: "disagree",
    });
    expect(rule.resolve(input(["tenants", "acme"], "acme.api.example", ["acme"]))).toEqual({
      ok: true,
      target: "acme",
    });
  });

  it("refuses a repeated header and invalid ids, never folding case", () => {
    expect(rule.resolve(input(["x"], undefined, ["acme", "acme"]))).toEqual({
      ok: false,
      reason: "repeated",
    });
    expect(rule.resolve(input(["tenants", "Acme"]))).toEqual({ ok: false, reason: "invalid" });
    expect(rule.resolve(input(["x"], "ACME.api.example"))).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(rule.resolve(input(["tenants", "a%63me"]))).toEqual({ ok: false, reason: "invalid" });
  });

  it("matches literal path segments case-insensitively", () => {
    expect(rule.resolve(input(["TENANTS", "globex"]))).toEqual({ ok: true, target: "globex" });
  });

  it("reads the tenant when only what follows it differs from the pattern", () => {
    const closed = compileTargetRule({ path: "/tenants/{tenant}" });
    expect(closed.resolve(input(["tenants", "acme", ""]))).toEqual({ ok: true, target: "acme" });
    expect(closed.resolve(input(["tenants", "acme", "x"]))).toEqual({ ok: true, target: "acme" });
    const deep = compileTargetRule({ path: "/tenants/{tenant}/orders/**" });
    expect(deep.resolve(input(["tenants", "acme", "invoices", "1"]))).toEqual({
      ok: true,
      target: "acme",
    });
  });

  it("refuses encoded or parameterised segments up to the tenant", () => {
    expect(rule.resolve(input(["%74enants", "acme", "orders"]))).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(rule.resolve(input(["tenants;x=1", "acme", "orders"]))).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(rule.resolve(input(["tenants", "acme;v=1", "orders"]))).toEqual({
      ok: false,
      reason: "invalid",
    });
  });

  it("double-encoded-literal-hides-target: decoded as often as an app might", () => {
    for (const literal of ["%2574enants", "%2554ENANTS", "%252574enants"]) {
      expect(rule.resolve(input([literal, "globex", "x"]))).toEqual({
        ok: false,
        reason: "invalid",
      });
    }
  });

  it("reads a host with a trailing dot", () => {
    expect(rule.resolve(input(["x"], "acme.api.example."))).toEqual({ ok: true, target: "acme" });
    expect(rule.resolve(input(["x"], "acme.api.example.:443"))).toEqual({
      ok: true,
      target: "acme",
    });
  });
});
