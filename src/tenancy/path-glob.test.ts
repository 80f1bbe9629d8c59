import { describe, expect, it } from "vitest";
import { compilePathGlob, PathGlobError, pathGlobProblem } from "./path-glob.js";
import { canonicalPath } from "./request-path.js";

/** Matches the way the proxy does: canonical path first, then the glob on its segments. */
function matches(glob: string, raw: string): boolean {
  const path = canonicalPath(raw);
  return path.ok && compilePathGlob(glob).matches(path.segments);
}

describe("compilePathGlob matching", () => {
  it.each([
    // Literal globs match exactly that path.
    ["/tenants/acme/reports", "/tenants/acme/reports", true],
    ["/tenants/acme/reports", "/tenants/acme/reports/1", false],
    ["/tenants/acme/reports", "/tenants/acme", false],
    ["/tenants/acme/reports", "/tenants/acme/report", false],
    ["/tenants/acme/reports", "/tenants/acme/reportsx", false],
    // Case-sensitive, no decoding.
    ["/tenants/acme/reports", "/tenants/acme/Reports", false],
    ["/tenants/acme/reports", "/TENANTS/acme/reports", false],
    ["/tenants/acme/reports", "/tenants/acme/%72eports", false],
    ["/tenants/acme/reports", "/tenants/acme/reports?x=1", true],
    // `*`: exactly one non-empty segment.
    ["/tenants/acme/reports/*", "/tenants/acme/reports/1", true],
    ["/tenants/acme/reports/*", "/tenants/acme/reports/1/lines", false],
    ["/tenants/acme/reports/*", "/tenants/acme/reports", false],
    ["/tenants/acme/reports/*", "/tenants/acme/reports/", false],
    ["/tenants/acme/*/summary", "/tenants/acme/q1/summary", true],
    ["/tenants/acme/*/summary", "/tenants/acme/q1/q2/summary", false],
    // `**`: zero or more segments.
    ["/tenants/acme/reports/**", "/tenants/acme/reports", true],
    ["/tenants/acme/reports/**", "/tenants/acme/reports/", true],
    ["/tenants/acme/reports/**", "/tenants/acme/reports/1", true],
    ["/tenants/acme/reports/**", "/tenants/acme/reports/1/lines/2", true],
    ["/tenants/acme/reports/**", "/tenants/acme/reportsx", false],
    ["/tenants/acme/reports/**", "/tenants/acme/invoices/reports", false],
    ["/tenants/acme/**/pdf", "/tenants/acme/pdf", true],
    ["/tenants/acme/**/pdf", "/tenants/acme/a/b/c/pdf", true],
    ["/tenants/acme/**/pdf", "/tenants/acme/a/b/c/pdf/x", false],
    ["/tenants/acme/**/*/pdf", "/tenants/acme/pdf", false],
    ["/tenants/acme/**/*/pdf", "/tenants/acme/a/pdf", true],
    ["/tenants/acme/**/x/**/y", "/tenants/acme/x/x/x/y", true],
    ["/tenants/acme/**/x/**/y", "/tenants/acme/y/x", false],
    ["/**", "/", true],
    ["/**", "/anything/at/all", true],
    // Trailing slash is significant and never widens a grant.
    ["/tenants/acme/reports/", "/tenants/acme/reports/", true],
    ["/tenants/acme/reports/", "/tenants/acme/reports", false],
    ["/tenants/acme/reports", "/tenants/acme/reports/", false],
    ["/tenants/acme/**/", "/tenants/acme/a/", true],
    ["/tenants/acme/**/", "/tenants/acme/a", false],
    ["/", "/", true],
    ["/", "/a", false],
    // Tricks that canonicalPath refuses never reach a match.
    ["/tenants/acme/reports/**", "/tenants/acme/reports/../../globex/secrets", false],
    ["/tenants/acme/reports/**", "/tenants/acme/reports/%2e%2e/%2e%2e/globex", false],
    ["/tenants/acme/reports/**", "/tenants/acme/reports%2f..%2f..%2fglobex", false],
    ["/tenants/acme/reports/**", "/tenants/acme/reports/..;/admin", false],
    ["/tenants/acme/reports/**", "/tenants/acme/reports\\..\\admin", false],
    ["/tenants/acme/reports/**", "/tenants/acme//reports/1", false],
    ["/tenants/acme/reports/*", "/tenants/acme/reports/a%2fb", false],
  ])("%s ~ %s → %s", (glob, raw, expected) => {
    expect(matches(glob, raw)).toBe(expected);
  });

  it("stays fast on pathological globs and long paths", () => {
    const glob = compilePathGlob("/**/a/**/a/**/a/**/a/**/b");
    const segments = Array.from({ length: 2000 }, () => "a");
    const started = performance.now();
    expect(glob.matches(segments)).toBe(false);
    expect(glob.matches([...segments, "b"])).toBe(true);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it("keeps its source", () => {
    expect(compilePathGlob("/a/**").source).toBe("/a/**");
  });
});

describe("compilePathGlob refuses", () => {
  it.each([
    ["tenants/acme", "must start with /"],
    ["", "must start with /"],
    ["/tenants/acme/../globex", "dot segments"],
    ["/tenants/./acme", "dot segments"],
    ["/tenants/..;/acme", "dot segments"],
    ["/tenants//acme", "empty segment"],
    ["/tenants/acme/reports/;x", "cannot start with ;"],
    ["//", "empty segment"],
    ["/tenants/acme%2Freports", "percent"],
    ["/tenants/%61cme", "percent"],
    ["/tenants\\acme", "backslash"],
    ["/tenants/acme/report-*", "whole segments"],
    ["/tenants/acme/*.pdf", "whole segments"],
    ["/tenants/acme/***", "whole segments"],
    ["/tenants/{tenant}/reports", "placeholders"],
    ["/tenants/acme?x=1", "query"],
    ["/tenants/acme#x", "fragment"],
    ["/tenants/acme reports", "whitespace"],
    ["/tenants/acme/\u0000", "control"],
    ["/tenants/caf\u00e9", "non-ASCII"],
  ])("%j (%s)", (glob, problem) => {
    expect(pathGlobProblem(glob)).toContain(problem);
    expect(() => compilePathGlob(glob)).toThrow(PathGlobError);
  });

  it("accepts a trailing slash and whole-segment wildcards", () => {
    for (const glob of ["/", "/a/", "/a/*/b/**", "/**", "/a/**/"])
      expect(pathGlobProblem(glob)).toBeUndefined();
  });
});
