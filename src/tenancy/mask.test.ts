import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { FieldConfig } from "../config/schema.js";
import { applyMask, compileMask, MaskError, REDACTED_VALUE } from "./mask.js";
import { compileProjection, project, ProjectionError, projectResponseBody } from "./projection.js";

const KEY = Buffer.from("0123456789abcdef0123456789abcdef");
const OTHER_KEY = Buffer.from("fedcba9876543210fedcba9876543210");

function projected(fields: FieldConfig[], value: unknown, hashKey: Buffer = KEY): unknown {
  return JSON.parse(JSON.stringify(project(value, compileProjection(fields, { hashKey }))));
}

/** The documented formula, computed independently of mask.ts. */
function expectedHash(value: unknown, key: Buffer = KEY): string {
  return `hmac-sha256:${createHmac("sha256", key).update(JSON.stringify(value)).digest("base64url")}`;
}

const order = {
  id: "o1",
  card: "4111 1111 1111 1111",
  owner: { name: "Ann Example", email: "ann@example.com", address: { city: "Oslo" } },
  items: [
    { id: "i1", sku: "SKU-123456", notes: ["fragile", "gift"] },
    { id: "i2", sku: 42, notes: [] },
  ],
};

describe("masks in projections", () => {
  it("redacts a top-level field, keeping the rest of the selection", () => {
    expect(projected(["id", { path: "card", mask: "redact" }], order)).toEqual({
      id: "o1",
      card: REDACTED_VALUE,
    });
  });

  it("hashes a nested field with the documented HMAC", () => {
    expect(projected(["owner.name", { path: "owner.email", mask: "hash" }], order)).toEqual({
      owner: { name: "Ann Example", email: expectedHash("ann@example.com") },
    });
  });

  it("masks inside arrays of objects and arrays of primitives", () => {
    expect(
      projected(
        [
          "items[].id",
          { path: "items[].sku", mask: "truncate:3" },
          { path: "items[].notes[]", mask: "hash" },
        ],
        order,
      ),
    ).toEqual({
      items: [
        { id: "i1", sku: "SKU", notes: [expectedHash("fragile"), expectedHash("gift")] },
        // A number is not truncated into a string: it is redacted.
        { id: "i2", sku: REDACTED_VALUE, notes: [] },
      ],
    });
  });

  it("masks a whole object or array when the path names it", () => {
    expect(projected([{ path: "owner", mask: "hash" }], order)).toEqual({
      owner: expectedHash(order.owner),
    });
    expect(projected([{ path: "items", mask: "redact" }], order)).toEqual({
      items: REDACTED_VALUE,
    });
  });

  it("masks each element of a top-level array", () => {
    expect(projected([{ path: "id", mask: "hash" }], [{ id: 1 }, { id: 1 }, { id: 2 }])).toEqual([
      { id: expectedHash(1) },
      { id: expectedHash(1) },
      { id: expectedHash(2) },
    ]);
  });

  it("hashes equal values equally across calls, and differently under another key", () => {
    const fields: FieldConfig[] = [{ path: "owner.email", mask: "hash" }];
    const first = projected(fields, order);
    expect(projected(fields, structuredClone(order))).toEqual(first);
    expect(projected(fields, order, OTHER_KEY)).not.toEqual(first);
    // A value's type is part of what is hashed: "1" and 1 do not join.
    expect(applyMask("1", { kind: "hash", key: KEY })).not.toBe(
      applyMask(1, { kind: "hash", key: KEY }),
    );
  });

  it("truncates by code points and never splits a surrogate pair", () => {
    const mask = compileMask("truncate:2", undefined);
    expect(applyMask("a😀b", mask)).toBe("a😀");
    expect(applyMask("ab", mask)).toBe("ab");
    expect(applyMask(null, mask)).toBe(REDACTED_VALUE);
    expect(applyMask({ a: 1 }, mask)).toBe(REDACTED_VALUE);
  });

  it("leaves a missing field missing: a mask never invents a value", () => {
    expect(projected(["id", { path: "secret", mask: "redact" }], { id: 1 })).toEqual({ id: 1 });
  });

  it("masks in the serialised body that leaves", () => {
    const projection = compileProjection(["id", { path: "card", mask: "truncate:4" }], {});
    const result = projectResponseBody(
      Buffer.from(JSON.stringify(order)),
      "application/json",
      projection,
      1024,
    );
    expect(result.ok && result.body.toString()).toBe('{"id":"o1","card":"4111"}');
  });
});

describe("compiling masks", () => {
  it("refuses a hash mask without a key", () => {
    expect(() => compileProjection([{ path: "email", mask: "hash" }])).toThrow(
      /"email": a hash mask needs projection.hashKeyFile/,
    );
  });

  it.each(["truncate:0", "truncate:-1", "truncate:1.5", "truncate:", "blur", "Redact"])(
    "refuses the mask %s",
    (mask) => {
      expect(() => compileMask(mask, KEY)).toThrow(MaskError);
    },
  );

  it("refuses a masked path listed again, plainly or with another mask", () => {
    for (const fields of [
      ["email", { path: "email", mask: "redact" }],
      [{ path: "email", mask: "redact" }, "email"],
      [
        { path: "email", mask: "redact" },
        { path: "email", mask: "hash" },
      ],
    ] as FieldConfig[][]) {
      expect(() => compileProjection(fields, { hashKey: KEY })).toThrow(ProjectionError);
    }
  });

  it("refuses a mask inside a field kept whole, in either order (the value would leave)", () => {
    for (const fields of [
      ["owner", { path: "owner.email", mask: "redact" }],
      [{ path: "owner.email", mask: "redact" }, "owner"],
      ["items[]", { path: "items[].sku", mask: "redact" }],
    ] as FieldConfig[][]) {
      expect(() => compileProjection(fields)).toThrow(/kept whole/);
    }
  });

  it("refuses selecting inside a masked field (the mask already covers it)", () => {
    expect(() => compileProjection([{ path: "owner", mask: "redact" }, "owner.name"])).toThrow(
      ProjectionError,
    );
  });

  it("describes masked fields for audit records", () => {
    expect(compileProjection(["id", { path: "card", mask: "truncate:4" }]).fields).toEqual([
      "id",
      "card (truncate:4)",
    ]);
  });
});
