import { describe, expect, it } from "vitest";
import { readRequestHeaders } from "./headers.js";

const h2 = (...fields: string[]) => [
  ":method",
  "GET",
  ":scheme",
  "https",
  ":path",
  "/tenants/acme/x",
  ":authority",
  "orders.example:15006",
  ...fields,
];

describe("readRequestHeaders on an HTTP/2 request", () => {
  it("neither counts nor forwards pseudo-headers; the authority becomes Host", () => {
    const read = readRequestHeaders(h2("accept", "*/*"), new Set());
    expect(read.count).toBe(1);
    expect(Object.keys(read.forward).sort()).toEqual(["accept", "host"]);
    expect(read.forward["host"]).toBe("orders.example:15006");
    expect([read.authority, read.host, read.hostCount]).toEqual([
      "orders.example:15006",
      "orders.example:15006",
      0,
    ]);
  });

  it("keeps a Host sent beside :authority for the stage that compares them", () => {
    const read = readRequestHeaders(h2("host", "other.example"), new Set());
    expect([read.authority, read.host, read.hostCount]).toEqual([
      "orders.example:15006",
      "other.example",
      1,
    ]);
  });

  it("joins split cookie fields into one line for the app (RFC 9113 §8.2.3)", () => {
    const read = readRequestHeaders(h2("cookie", "a=1", "cookie", "b=2"), new Set());
    expect(read.forward["cookie"]).toBe("a=1; b=2");
    expect(read.count).toBe(2);
  });

  it("reserved names hidden among pseudo-headers are still caught", () => {
    const read = readRequestHeaders(h2("x-palisade-tenant", "globex"), new Set());
    expect(read.reserved.get("x-palisade-tenant")).toEqual(["globex"]);
    expect(read.forward["x-palisade-tenant"]).toBeUndefined();
  });
});
