import { z } from "zod";
import { describe, expect, it } from "vitest";
import { renderConfigReference } from "./reference.js";
import { parseDuration, parseSize } from "./units.js";

const duration = z
  .string()
  .transform((s) => parseDuration(s) as number)
  .meta({ type: "string", pattern: "^\\d+(ms|s|m|h)$" });
const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((s) => (typeof s === "number" ? s : (parseSize(s) as number)));

/** One key of each shape the config schema uses, and one it may grow. */
const schema = z.strictObject({
  name: z.string().describe("required name"),
  wait: duration.default(300_000).describe("a duration"),
  block: z
    .strictObject({
      bytes: size.default(16 * 1024 ** 2).describe("a size"),
      mode: z.enum(["a", "b"]).default("a").describe("an enum"),
    })
    .default({ bytes: 16 * 1024 ** 2, mode: "a" })
    .describe("a described block"),
  tenants: z.record(z.string(), z.strictObject({ ca: z.string().describe("a file") })),
  rules: z
    .array(
      z.strictObject({
        fields: z
          .array(z.union([z.string(), z.strictObject({ path: z.string() })]))
          .describe("paths or objects"),
      }),
    )
    .default([]),
  sink: z.strictObject({ url: z.url().describe("where to") }).optional(),
});

describe("renderConfigReference", () => {
  const text = renderConfigReference(schema);

  it("writes transformed defaults in the units the loader reads", () => {
    expect(text).toContain("| `wait` | duration | `5m` | a duration |");
    expect(text).toContain("| `block.bytes` | size | `16Mi` | a size |");
    expect(text).toContain("| `block.mode` | `a` \\| `b` | `a` | an enum |");
  });

  it("names map keys and list items, and leads a section with its block's description", () => {
    expect(text).toContain("## `block`\n\nA described block.\n");
    expect(text).toContain("| `tenants.<tenant>.ca` | string | required | a file |");
    expect(text).toContain(
      "| `rules[].fields` | list of (string or object) | required | paths or objects |",
    );
  });

  it("tells required, absent and undescribed keys apart", () => {
    expect(text).toContain("| `name` | string | required | required name |");
    expect(text).toContain("| `sink.url` | URL | required | where to |");
    expect(text).toContain("| `tenants` | object | required |  |");
    expect(text).toContain("| `rules` | list of objects | `[]` |  |");
  });
});
