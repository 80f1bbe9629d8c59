import { describe, expect, it } from "vitest";
import { connectionListedNames } from "../http/message.js";
import { isReserved } from "./respond.js";
import {
  checkHeaderCount,
  fieldCount,
  readRequestHeaders,
  requestIdFrom,
  responseHeaders,
  valuesByDashedName,
  wireHeaders,
} from "./headers.js";

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
    expect({ ...headers.forward }).toEqual({ host: "a", "x-kept": "yes" });
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
    expect({ ...headers.forward }).toEqual({ host: "a" });
    expect([...headers.reserved]).toEqual([
      ["x-palisade-tenant", ["globex"]],
      ["x-tenant-id", ["globex"]],
    ]);
  });

  // The listed names are dropped after the one pass: whatever came first, the result is the
  // same as for names known to be hop-by-hop from the start.
  it("connection-listed-after-the-fact: a listed field is gone wherever it stood", () => {
    const raw = [
      "X-Request-Id",
      "r1",
      "X-Forwarded-For",
      "10.0.0.1",
      "X-Secret",
      "1",
      "Host",
      "a",
      "Connection",
      "x-secret, X-Request-Id, x-forwarded-for, host",
      "x-secret",
      "2",
    ];
    const headers = readRequestHeaders(raw, new Set(), new Set());
    // `Host` is the request's authority, listed or not; nothing listed is forwarded.
    expect({ ...headers.forward }).toEqual({ host: "a" });
    expect(headers.hostCount).toBe(1);
    expect(headers.requestId).toBeUndefined();
    // Dropped as hop-by-hop, so not reported as a stripped routing header.
    expect(headers.routing).toEqual([]);
    expect(headers.count).toBe(6);
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
    expect({ ...headers.forward }).toEqual({ host: "a" });
    expect([...headers.reserved.keys()]).toEqual(["x-palisade-tenant", "x-tenant-id"]);
  });

  const routing = [
    "Host",
    "a",
    "X-Forwarded-Host",
    "acme.api",
    "Forwarded",
    "host=acme.api",
    "X-HTTP-Method-Override",
    "DELETE",
    "X-Original-URI",
    "/x",
    "x_forwarded_prefix",
    "/p",
    "X-Forwarded_Proto",
    "http",
    "X-Host",
    "b",
  ];

  it("strips headers that could route the app elsewhere, underscore spellings included", () => {
    const headers = readRequestHeaders(routing, new Set(), new Set());
    expect({ ...headers.forward }).toEqual({ host: "a" });
    expect(headers.routing).toEqual([
      "x-forwarded-host",
      "forwarded",
      "x-http-method-override",
      "x-original-uri",
      "x_forwarded_prefix",
      "x-forwarded_proto",
      "x-host",
    ]);
    expect(headers.reserved.size).toBe(0);
  });

  it("forwards an allowed routing header in its dashed spelling only", () => {
    const raw = ["X-Forwarded-Proto", "https", "x_forwarded_proto", "http"];
    const headers = readRequestHeaders(raw, new Set(), new Set(["x-forwarded-proto"]));
    expect({ ...headers.forward }).toEqual({ "x-forwarded-proto": "https" });
  });

  it("passes routing headers on when no allow set is given (outbound)", () => {
    const headers = readRequestHeaders(routing, new Set());
    expect(headers.routing).toEqual([]);
    expect(headers.forward["x-forwarded-host"]).toBe("acme.api");
  });

  it("reads every spelling of a header as one (the target header)", () => {
    const headers = readRequestHeaders(
      ["X-Target-Tenant", "acme", "x_target_tenant", "globex", "X-Target_Tenant", "initech"],
      new Set(),
    );
    expect(valuesByDashedName(headers, "x-target-tenant")).toEqual(["acme", "globex", "initech"]);
    expect(valuesByDashedName(headers, "x-other")).toBeUndefined();
  });

  it("keeps fields named like Object.prototype members as plain fields", () => {
    const raw = ["constructor", "1", "__proto__", "2", "toString", "3", "toString", "4"];
    const headers = readRequestHeaders(raw, new Set());
    expect(Object.entries(headers.forward)).toEqual([
      ["constructor", "1"],
      ["__proto__", "2"],
      ["tostring", ["3", "4"]],
    ]);
  });
});

describe("header count", () => {
  it("counts every field, repeated ones included, but not HTTP/2 pseudo-headers", () => {
    const raw = [":method", "GET", ":path", "/", "a", "1", "a", "2", "x-palisade-x", "3"];
    expect(readRequestHeaders(raw, new Set()).count).toBe(3);
  });

  it("refuses more fields than the limit with headers_too_large", () => {
    expect(() => checkHeaderCount(100, 100)).not.toThrow();
    expect(() => checkHeaderCount(101, 100)).toThrow(
      expect.objectContaining({ code: "headers_too_large", status: 431 }),
    );
  });

  it("counts the field lines a header map is sent as", () => {
    expect(fieldCount({ a: "1", b: ["1", "2", "3"] })).toBe(4);
  });
});

describe("wireHeaders", () => {
  it("writes the stamped headers before any client field, integer-like names included", () => {
    const wire = wireHeaders({
      "1": "numeric",
      "zz-client": ["a", "b"],
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "x-palisade-tenant": "acme",
      "x-request-id": "r1",
      "x-palisade-context": "t",
    });
    const names = wire.filter((_, i) => i % 2 === 0);
    expect(names).toEqual([
      "x-palisade-tenant",
      "x-palisade-context",
      "x-request-id",
      "traceparent",
      "1",
      "zz-client",
      "zz-client",
    ]);
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

  // `keep-alive` and `close` answer a shared set: it must name exactly what a parse would.
  it.each([
    ["keep-alive", { close: "c", "x-a": "1" }],
    ["Close", { "x-a": "1" }],
    ["close, x-a", {}],
  ])("Connection: %s drops what it lists, no more", (connection, kept) => {
    const out = responseHeaders({ connection, "keep-alive": "5", close: "c", "x-a": "1" });
    expect(out).toEqual(kept);
    expect(connectionListedNames([connection])).toEqual(
      new Set(connection.toLowerCase().split(", ")),
    );
  });
});

describe("isReserved", () => {
  it.each([
    ["x-palisade-tenant", true],
    ["x_palisade.tenant", true],
    ["x-palisade-", true],
    ["x-palisade", false],
    ["content-type", false],
    ["", false],
  ])("%s: %s", (name, reserved) => {
    expect(isReserved(name)).toBe(reserved);
  });
});

describe("requestIdFrom", () => {
  it("keeps well-formed ids and mints the rest", () => {
    expect(requestIdFrom("abc-123")).toBe("abc-123");
    expect(requestIdFrom("bad id\n")).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFrom("x".repeat(200))).toMatch(/^[0-9a-f-]{36}$/);
  });
});
