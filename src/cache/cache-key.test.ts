import { describe, expect, it } from "vitest";
import {
  originForm,
  originUrl,
  parseVary,
  primaryKey,
  sameOriginKey,
  variantKey,
  type KeyScope,
} from "./cache-key.js";

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

  const inbound: KeyScope = { space: "inbound", base: "http://127.0.0.1:8080" };
  const billing: KeyScope = { space: "outbound billing", base: "https://billing:15006/v1" };

  it("keeps the path byte for byte, under the origin's base path", () => {
    expect(primaryKey(billing, "/A?b")).toBe(
      '["outbound billing",null,"https://billing:15006/v1/A?b"]',
    );
    expect(primaryKey(billing, "/A?b")).not.toBe(primaryKey(billing, "/a?b"));
    expect(originUrl(billing, "/A?b")).toBe("https://billing:15006/v1/A?b");
  });

  it("keeps key spaces apart even where their URLs are equal", () => {
    const sameUrl: KeyScope = { space: "outbound billing-alias", base: billing.base };
    const inboundThere: KeyScope = { space: "inbound", base: billing.base };
    const keys = [billing, sameUrl, inboundThere].map((scope) => primaryKey(scope, "/x"));
    expect(new Set(keys).size).toBe(3);
  });

  it("keeps base paths apart on one origin", () => {
    const v2: KeyScope = { ...billing, base: "https://billing:15006/v2" };
    expect(primaryKey(billing, "/x")).not.toBe(primaryKey(v2, "/x"));
  });

  it("cannot be forged through the path", () => {
    // With plain concatenation this path would spell the granted target's key.
    const forged = primaryKey(inbound, '/reports","globex');
    expect(forged).not.toBe(primaryKey({ ...inbound, targetTenant: "globex" }, "/reports"));
    expect(JSON.parse(forged)).toEqual(["inbound", null, 'http://127.0.0.1:8080/reports","globex']);
  });

  it("keys the target tenant apart from the caller's own resource", () => {
    const own = primaryKey(inbound, "/reports");
    const granted = primaryKey({ ...inbound, targetTenant: "globex" }, "/reports");
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

  it("resolves Location only within the request's origin and base path", () => {
    expect(sameOriginKey(inbound, "/orders", "/orders/1")).toBe(primaryKey(inbound, "/orders/1"));
    expect(sameOriginKey(inbound, "/orders", "http://127.0.0.1:8080/x?y")).toBe(
      primaryKey(inbound, "/x?y"),
    );
    expect(sameOriginKey(inbound, "/orders", "https://other/x")).toBeUndefined();
    expect(sameOriginKey(inbound, "/orders", "http://[bad")).toBeUndefined();
    const acme = { ...inbound, targetTenant: "acme" };
    expect(sameOriginKey(acme, "/o", "/o/1")).toBe(primaryKey(acme, "/o/1"));
    // Relative to the URL actually called, and never outside the upstream's base path.
    expect(sameOriginKey(billing, "/orders", "orders/1")).toBe(primaryKey(billing, "/orders/1"));
    expect(sameOriginKey(billing, "/orders", "/v1/x")).toBe(primaryKey(billing, "/x"));
    expect(sameOriginKey(billing, "/orders", "/v2/x")).toBeUndefined();
    expect(sameOriginKey(billing, "/orders", "/v10/x")).toBeUndefined();
  });
});
