import { describe, expect, it } from "vitest";
import {
  allowedProjectedHeaders,
  compileProjection,
  isJsonContentType,
  project,
  projectionFieldProblem,
  ProjectionError,
  projectResponseBody,
} from "./projection.js";

/** Compare by JSON: what leaves is the serialised projection. */
function projected(fields: string[], value: unknown): unknown {
  const result = project(value, compileProjection(fields));
  return result === undefined ? undefined : JSON.parse(JSON.stringify(result));
}

const order = {
  id: "o1",
  total: 120,
  secret: "card 4111",
  customer: { name: "Ann", email: "ann@example.com", address: { city: "Oslo", street: "x" } },
  items: [
    { id: "i1", price: 10, tags: ["a", "b"], meta: { cost: 3 } },
    { id: "i2", price: 20, tags: [], meta: { cost: 4 } },
  ],
};

describe("project", () => {
  it("keeps only top-level fields listed", () => {
    expect(projected(["id", "total"], order)).toEqual({ id: "o1", total: 120 });
  });

  it("keeps a bare field whole, whatever it holds", () => {
    expect(projected(["customer"], order)).toEqual({ customer: order.customer });
    expect(projected(["items"], order)).toEqual({ items: order.items });
  });

  it("projects nested objects at every depth", () => {
    expect(projected(["customer.name", "customer.address.city"], order)).toEqual({
      customer: { name: "Ann", address: { city: "Oslo" } },
    });
  });

  it("projects arrays of objects element-wise", () => {
    expect(projected(["items[].id", "items[].meta.cost"], order)).toEqual({
      items: [
        { id: "i1", meta: { cost: 3 } },
        { id: "i2", meta: { cost: 4 } },
      ],
    });
  });

  it("keeps arrays of primitives with []", () => {
    expect(projected(["items[].tags[]"], order)).toEqual({
      items: [{ tags: ["a", "b"] }, { tags: [] }],
    });
    expect(projected(["matrix[][]"], { matrix: [[1, 2], [3], 4] })).toEqual({
      matrix: [[1, 2], [3]],
    });
  });

  it("projects each element of a top-level array", () => {
    expect(projected(["id"], [order, { id: "o2", secret: 1 }, 7, null, ["id"]])).toEqual([
      { id: "o1" },
      { id: "o2" },
    ]);
  });

  it("lets an object lack a missing field", () => {
    expect(projected(["id", "customer.name", "items[].id"], { id: 1 })).toEqual({ id: 1 });
    expect(projected(["customer.name"], { customer: {} })).toEqual({ customer: {} });
  });

  it("drops primitives and arrays where an object was expected, and vice versa", () => {
    expect(projected(["customer.name"], { customer: "Ann <ann@example.com>" })).toEqual({});
    expect(projected(["customer.name"], { customer: [{ name: "Ann", email: "x" }] })).toEqual({});
    expect(projected(["items[].id"], { items: { id: "not an array", secret: 1 } })).toEqual({});
    expect(projected(["items[].id"], { items: [{ id: 1 }, "leak", 3, null, [{ id: 2 }]] })).toEqual(
      {
        items: [{ id: 1 }],
      },
    );
    expect(projected(["id"], "a secret string")).toBeUndefined();
    expect(projected(["id"], null)).toBeUndefined();
  });

  it("keeps null and primitive values of a kept field", () => {
    expect(projected(["id", "total"], { id: null, total: 0, x: 1 })).toEqual({
      id: null,
      total: 0,
    });
  });

  it("merges overlapping fields; a whole field wins over its parts", () => {
    expect(projected(["customer.name", "customer"], order)).toEqual({ customer: order.customer });
    expect(projected(["items[]", "items[].id"], order)).toEqual({ items: order.items });
    expect(projected(["items[].id", "items[].price"], order)).toEqual({
      items: [
        { id: "i1", price: 10 },
        { id: "i2", price: 20 },
      ],
    });
  });

  it("does not read inherited properties or set prototypes", () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "id": 1}') as unknown;
    const result = project(
      value,
      compileProjection(["__proto__", "id", "constructor", "toString"]),
    );
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":true},"id":1}');
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

describe("compileProjection", () => {
  it.each(["", ".", "a.", ".a", "a..b", "a[", "a[0]", "a[]x", "[]", "a.[]", "a]"])(
    "refuses %j",
    (field) => {
      expect(projectionFieldProblem(field)).toBeDefined();
      expect(() => compileProjection([field])).toThrow(ProjectionError);
    },
  );

  it("refuses a field named both as an array and as an object", () => {
    expect(() => compileProjection(["items[].id", "items.id"])).toThrow(
      /both as an array and as an object/,
    );
  });

  it("refuses an empty list", () => {
    expect(() => compileProjection([])).toThrow(ProjectionError);
  });

  it("keeps the configured fields", () => {
    expect(compileProjection(["id", "items[].id"]).fields).toEqual(["id", "items[].id"]);
  });
});

describe("projectResponseBody", () => {
  const projection = compileProjection(["id", "total"]);
  const body = Buffer.from(JSON.stringify(order));

  it("projects a JSON body", () => {
    const result = projectResponseBody(body, "application/json; charset=utf-8", projection, 1024);
    expect(result).toEqual({ ok: true, body: Buffer.from('{"id":"o1","total":120}') });
  });

  it("projects +json media types", () => {
    expect(projectResponseBody(body, "application/vnd.api+json", projection, 1024).ok).toBe(true);
    expect(projectResponseBody(body, "Application/Problem+JSON", projection, 1024).ok).toBe(true);
  });

  it.each([
    undefined,
    "",
    "text/plain",
    "text/html",
    "application/xml",
    "application/octet-stream",
    "application/jsonx",
    "application/x-ndjson",
    "application/json-seq",
    "text/json+xml",
    "application/+json",
    "multipart/form-data; boundary=json",
    "application/json; charset=utf-16",
    'application/json; charset="iso-8859-1"',
  ])("refuses %j as not_json, never passing it through", (contentType) => {
    expect(projectResponseBody(body, contentType, projection, 1024)).toEqual({
      ok: false,
      reason: "not_json",
    });
  });

  it("refuses a body over maxBytes", () => {
    expect(projectResponseBody(body, "application/json", projection, body.length - 1)).toEqual({
      ok: false,
      reason: "too_large",
    });
    expect(projectResponseBody(body, "application/json", projection, body.length).ok).toBe(true);
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["truncated", body.subarray(0, 20)],
    ["gzip", Buffer.from([0x1f, 0x8b, 0x08, 0x00])],
    ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ["two documents", Buffer.from('{"id":1}{"id":2}')],
  ])("refuses %s bodies as invalid_json", (_name, bad) => {
    expect(projectResponseBody(bad, "application/json", projection, 1024)).toEqual({
      ok: false,
      reason: "invalid_json",
    });
  });

  it("accepts a UTF-8 BOM and a quoted charset", () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"id":1,"x":2}')]);
    const result = projectResponseBody(
      withBom,
      'application/json;charset="UTF-8"',
      projection,
      1024,
    );
    expect(result).toEqual({ ok: true, body: Buffer.from('{"id":1}') });
  });

  it("answers null for a top-level primitive", () => {
    expect(
      projectResponseBody(Buffer.from('"secret"'), "application/json", projection, 1024),
    ).toEqual({
      ok: true,
      body: Buffer.from("null"),
    });
  });

  it("projects each element of a top-level array", () => {
    const list = Buffer.from(JSON.stringify([order, order]));
    const result = projectResponseBody(list, "application/json", projection, 4096);
    expect(result.ok && result.body.toString()).toBe(
      '[{"id":"o1","total":120},{"id":"o1","total":120}]',
    );
  });
});

describe("isJsonContentType", () => {
  it("ignores parameters other than charset", () => {
    expect(isJsonContentType("application/json; profile=x")).toBe(true);
    expect(isJsonContentType(" application/json ;charset=utf8")).toBe(true);
  });
});

describe("allowedProjectedHeaders", () => {
  it("allows only headers that cannot describe the unprojected body", () => {
    expect([...allowedProjectedHeaders].sort()).toEqual([
      "cache-control",
      "content-type",
      "date",
      "vary",
    ]);
    for (const leaky of [
      "etag",
      "last-modified",
      "content-length",
      "content-encoding",
      "content-range",
      "digest",
    ]) {
      expect(allowedProjectedHeaders.has(leaky)).toBe(false);
    }
  });
});
