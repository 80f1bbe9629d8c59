import { describe, expect, it } from "vitest";
import { readRequestHeaders, requestIdFrom, responseHeaders } from "./headers.js";

describe("readRequestHeaders", () => {
  it("removes hop-by-hop headers and those Connection names", () => {
    const raw = [
      "Host",
      "a",
      "Connection",
      "keep-alive, X-Secret",
      "X-Secret",
      "1",
      "TE",
      "trailers",
      "X-Kept",
      "yes",
    ];
    const headers = readRequestHeaders(raw, new Set());
    expect(headers.forward).toEqual({ host: "a", "x-kept": "yes" });
  });

  it("sets reserved headers and aliases aside, even when Connection names them", () => {
    const raw = [
      "Host",
      "a",
      "Connection",
      "x-palisade-tenant",
      "X-Palisade-Tenant",
      "globex",
      "X-Tenant-Id",
      "globex",
    ];
    const headers = readRequestHeaders(raw, new Set(["x-tenant-id"]));
    expect(headers.forward).toEqual({ host: "a" });
    expect([...headers.reserved]).toEqual([
      ["x-palisade-tenant", ["globex"]],
      ["x-tenant-id", ["globex"]],
    ]);
  });

  it("counts Host headers and drops an ambiguous request id", () => {
    const headers = readRequestHeaders(
      ["Host", "a", "host", "b", "X-Request-Id", "1", "x-request-id", "2"],
      new Set(),
    );
    expect(headers.hostCount).toBe(2);
    expect(headers.requestId).toBeUndefined();
  });
});

describe("look-alike and routing headers", () => {
  it("treats underscore spellings as the dashed name, so they cannot slip past", () => {
    const headers = readRequestHeaders(
      ["Host", "a", "X-Palisade_Tenant", "acme", "x_tenant_id", "b"],
      new Set(["x-tenant-id"]),
    );
    expect(headers.forward).toEqual({ host: "a" });
    expect([...headers.reserved.keys()]).toEqual(["x-palisade-tenant", "x-tenant-id"]);
  });

  it("drops headers that could route the app elsewhere", () => {
    const raw = [
      "Host",
      "a",
      "X-Forwarded-Host",
      "acme.api",
      "X-HTTP-Method-Override",
      "DELETE",
      "X-Original-URL",
      "/x",
    ];
    expect(readRequestHeaders(raw, new Set()).forward).toEqual({ host: "a" });
  });
});

describe("responseHeaders", () => {
  it("removes hop-by-hop, Connection-named and dropped names", () => {
    const out = responseHeaders(
      {
        connection: "x-a",
        "x-a": "1",
        "keep-alive": "5",
        "x-palisade-cache": "hit",
        "content-type": "text/plain",
      },
      (name) => name.startsWith("x-palisade-"),
    );
    expect(out).toEqual({ "content-type": "text/plain" });
  });
});

describe("requestIdFrom", () => {
  it("keeps well-formed ids and mints the rest", () => {
    expect(requestIdFrom("abc-123")).toBe("abc-123");
    expect(requestIdFrom("bad id\n")).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFrom("x".repeat(200))).toMatch(/^[0-9a-f-]{36}$/);
  });
});
