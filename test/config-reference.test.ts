/**
 * docs/config.md is generated from the config schema; these keep it true. If the first one
 * fails, run `npm run docs:config` and commit docs/config.md.
 */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { renderConfigReference } from "../src/config/reference.js";
import { configSchema } from "../src/config/schema.js";
import { parseDuration, parseSize } from "../src/config/units.js";

const ROOT = new URL("../", import.meta.url);
const reference = renderConfigReference();

interface Row {
  key: string;
  type: string;
  default: string;
  meaning: string;
}

/** `| \`key\` | type | default | meaning |`: the rows of the generated tables. */
function rows(markdown: string): Row[] {
  return [...markdown.matchAll(/^\| `([^`]+)` \| (.+?) \| (.*?) \| (.*?) \|$/gm)].map((m) => ({
    key: m[1] ?? "",
    type: m[2] ?? "",
    default: m[3] ?? "",
    meaning: m[4] ?? "",
  }));
}

const documented = rows(reference);
const byKey = new Map(documented.map((r) => [r.key, r]));

/** Key paths a config file sets, map keys and list indexes written as the reference does. */
function keyPaths(value: unknown, path: string): string[] {
  if (path !== "" && byKey.get(path)?.type === "map") return [path];
  if (Array.isArray(value))
    // A list of objects is documented by its members; a list of scalars, or of scalars and
    // objects (`fields`), by the list itself.
    return value.length > 0 && value.every((v) => typeof v === "object" && v !== null)
      ? keyPaths(value[0], `${path}[]`)
      : [path];
  if (typeof value !== "object" || value === null) return [path];
  const placeholder =
    path === "tenants" ? "<tenant>" : path.endsWith("upstreams") ? "<upstream>" : "";
  return Object.entries(value).flatMap(([key, child]) =>
    keyPaths(child, path === "" ? key : `${path}.${placeholder || key}`),
  );
}

function at(value: unknown, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

describe("docs/config.md", () => {
  it("is what the schema renders today", async () => {
    expect(await readFile(new URL("docs/config.md", ROOT), "utf8")).toBe(reference);
  });

  it("documents every key the example config sets, each with a meaning", async () => {
    const example = parse(await readFile(new URL("config/example/palisade.yaml", ROOT), "utf8"));
    const keys = keyPaths(example, "");
    expect(keys.length).toBeGreaterThan(60);
    expect(keys.filter((key) => !byKey.has(key))).toEqual([]);
    expect(documented.filter((r) => r.meaning.trim() === "").map((r) => r.key)).toEqual([]);
  });

  it("writes each duration and size default so the loader reads it back as that default", () => {
    const defaults = configSchema.parse({ service: "a", trustDomain: "mesh.local", tenants: {} });
    // Keys under a map or a list have no value in a config without entries.
    const unitRows = documented.filter(
      (r) => (r.type === "duration" || r.type === "size") && !/[<[]/.test(r.key),
    );
    expect(unitRows.length).toBeGreaterThan(15);
    for (const row of unitRows) {
      const text = row.default.replaceAll("`", "");
      const read = row.type === "duration" ? parseDuration(text) : parseSize(text);
      expect({ key: row.key, read }).toEqual({ key: row.key, read: at(defaults, row.key) });
    }
  });
});
