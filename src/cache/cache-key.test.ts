import { describe, expect, it } from "vitest";
import { originForm, parseVary, primaryKey, sameOriginKey, variantKey } from "./cache-key.js";

describe("cache keys", () => {
  it.each<[string, string | undefined]>([
    ["/a?b=1", "/a?b=1"],
    ["http://billing/x/y?z", "/x/y?z"],
    ["http://billing", "/"],
    ["http://billing?q", "/?q"],
    ["*", undefined],
    ["billing:443", undefined],
  ])("origin form of %j", (target, expected) => {
    expect(originForm(target)).toBe(expected);
  });

  it("folds the authority's case but not the path's", () => {
    expect(primaryKey({ scheme: "HTTPS", authority: "Billing:15006" }, "/A?b")).toBe(
      "https://billing:15006/A?b",
    );
  });

  it("keys the target tenant apart from the caller's own resource", () => {
    const own = primaryKey({ scheme: "https", authority: "h" }, "/reports");
    const granted = primaryKey(
      { scheme: "https", authority: "h", targetTenant: "globex" },
      "/reports",
    );
    expect(granted).not.toBe(own);
  });

  it("parses Vary into sorted unique lower-case names", () => {
    expect(parseVary(["Accept-Encoding, X-User", "accept-encoding"])).toEqual([
      "accept-encoding",
      "x-user",
    ]);
    expect(parseVary("accept, *")).toBe("*");
    expect(parseVary(undefined)).toEqual([]);
  });

  it("separates variants by the request's Vary values, absent apart from empty", () => {
    const key = (headers: Record<string, string>) => variantKey("https://h/p", ["x-user"], headers);
    expect(key({ "x-user": "a" })).not.toBe(key({ "x-user": "b" }));
    expect(key({})).not.toBe(key({ "x-user": "" }));
    expect(key({ "x-user": "a ,b" })).toBe(key({ "x-user": "a, b" }));
    expect(variantKey("https://h/p", [], { "x-user": "a" })).toBe("https://h/p");
  });

  it("resolves Location only within the request's origin", () => {
    const scope = { scheme: "https", authority: "h" };
    expect(sameOriginKey(scope, "/orders", "/orders/1")).toBe("https://h/orders/1");
    expect(sameOriginKey(scope, "/orders", "https://h/x?y")).toBe("https://h/x?y");
    expect(sameOriginKey(scope, "/orders", "https://other/x")).toBeUndefined();
    expect(sameOriginKey(scope, "/orders", "http://[bad")).toBeUndefined();
    expect(sameOriginKey({ ...scope, targetTenant: "acme" }, "/o", "/o/1")).toBe(
      "https://h/o/1#acme",
    );
  });
});
