import { describe, expect, it } from "vitest";
import { formatWorkloadId, parseSpiffeId, parseWorkloadId } from "./spiffe.js";

describe("parseSpiffeId", () => {
  it.each([
    ["spiffe://mesh.local", { trustDomain: "mesh.local", path: "" }],
    ["spiffe://mesh.local/a", { trustDomain: "mesh.local", path: "/a" }],
    [
      "spiffe://my_td-1.example/A.b/c_d-E/x..y",
      { trustDomain: "my_td-1.example", path: "/A.b/c_d-E/x..y" },
    ],
  ])("accepts %s", (uri, expected) => {
    expect(parseSpiffeId(uri)).toEqual(expected);
  });

  it.each([
    "",
    "spiffe://",
    "spiffe:///path",
    "SPIFFE://mesh.local/a",
    "https://mesh.local/a",
    "spiffe:mesh.local/a",
    "spiffe://Mesh.local/a",
    "spiffe://mesh.local/",
    "spiffe://mesh.local//a",
    "spiffe://mesh.local/a/",
    "spiffe://mesh.local/./a",
    "spiffe://mesh.local/a/..",
    "spiffe://mesh.local/a/../b",
    "spiffe://mesh.local/a?x=1",
    "spiffe://mesh.local/a#frag",
    "spiffe://mesh.local:8443/a",
    "spiffe://user@mesh.local/a",
    "spiffe://mesh.local/a%2Fb",
    "spiffe://mesh.local/%61",
    "spiffe://mesh.local/a b",
    "spiffe://mesh.local/a\n",
    " spiffe://mesh.local/a",
    "spiffe://mesh.local/caf\u00e9",
    `spiffe://${"a".repeat(256)}/x`,
    `spiffe://mesh.local/${"a".repeat(2048)}`,
  ])("refuses %j", (uri) => {
    expect(parseSpiffeId(uri)).toBeUndefined();
  });
});

describe("parseWorkloadId", () => {
  it("reads trust domain, tenant and service", () => {
    expect(parseWorkloadId("spiffe://mesh.local/tenant/acme/sa/orders")).toEqual({
      trustDomain: "mesh.local",
      tenant: "acme",
      service: "orders",
    });
  });

  it.each([
    "spiffe://mesh.local/tenant/acme",
    "spiffe://mesh.local/tenant/acme/sa",
    "spiffe://mesh.local/tenant/acme/sa/orders/extra",
    "spiffe://mesh.local/tenants/acme/sa/orders",
    "spiffe://mesh.local/tenant/acme/svc/orders",
    "spiffe://mesh.local/tenant/ACME/sa/orders",
    "spiffe://mesh.local/tenant/-acme/sa/orders",
    "spiffe://mesh.local/tenant/ac_me/sa/orders",
    `spiffe://mesh.local/tenant/${"a".repeat(64)}/sa/orders`,
    "spiffe://mesh.local/tenant/acme/sa/Orders",
    "spiffe://mesh.local/tenant/acme/sa/orders_v2",
    "spiffe://mesh.local/tenant/acme/sa/.orders",
    "spiffe://mesh.local/tenant/acme/sa/orders%2F..",
    "spiffe://mesh.local/tenant/acme/sa/orders?tenant=globex",
  ])("refuses %j", (uri) => {
    expect(parseWorkloadId(uri)).toBeUndefined();
  });
});

describe("formatWorkloadId", () => {
  it("round-trips through parseWorkloadId", () => {
    const id = formatWorkloadId("mesh.local", "acme", "orders.v2");
    expect(id).toBe("spiffe://mesh.local/tenant/acme/sa/orders.v2");
    expect(parseWorkloadId(id)).toEqual({
      trustDomain: "mesh.local",
      tenant: "acme",
      service: "orders.v2",
    });
  });

  it.each([
    ["Mesh.local", "acme", "orders"],
    ["mesh.local", "Acme", "orders"],
    ["mesh.local", "acme/../globex", "orders"],
    ["mesh.local", "acme", "orders/x"],
    ["mesh.local", "acme", ""],
  ])("throws on invalid parts %j", (td, tenant, service) => {
    expect(() => formatWorkloadId(td, tenant, service)).toThrow();
  });
});
