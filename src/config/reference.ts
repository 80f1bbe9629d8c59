/**
 * docs/config.md, rendered from the config schema itself: every key with its type, default
 * and `.describe()` text, so the reference cannot drift from what the loader accepts
 * (`npm run docs:config` writes it; test/config-reference.test.ts fails when it is stale).
 *
 * The input-side JSON Schema gives the shape (types, required keys, descriptions); the
 * output side gives every default, including those behind a transform (durations, sizes),
 * which the input side cannot express.
 */
import { z } from "zod";
import { configSchema } from "./schema.js";

interface JsonNode {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonNode>;
  required?: string[];
  additionalProperties?: JsonNode | boolean;
  items?: JsonNode;
  anyOf?: JsonNode[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
}

interface Row {
  key: string;
  type: string;
  default: string;
  meaning: string;
}

/** Placeholders for the keys of a map, by the map's own key. */
const MAP_KEYS: Record<string, string> = { tenants: "<tenant>", upstreams: "<upstream>" };

const DURATION_PATTERN = "^\\d+(ms|s|m|h)$";
const DURATION_UNITS: [string, number][] = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];
const SIZE_UNITS: [string, number][] = [
  ["Gi", 1024 ** 3],
  ["Mi", 1024 ** 2],
  ["Ki", 1024],
];

/** The reference of `schema` (the config's, unless a test renders a smaller one). */
export function renderConfigReference(schema: z.ZodType = configSchema): string {
  const input = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonNode;
  const output = z.toJSONSchema(schema, { io: "output", unrepresentable: "any" }) as JsonNode;
  const sections: string[] = [];
  const topLevel: Row[] = [];
  for (const [key, node] of Object.entries(input.properties ?? {})) {
    const rows = walk(key, node, output.properties?.[key], isRequired(input, key));
    if (isLeaf(node)) topLevel.push(...rows);
    // A block's own description leads its section; a map's or a list's row stays in the table.
    else if (node.properties && node.description)
      sections.push(section(key, rows.slice(1), node.description));
    else sections.push(section(key, rows));
  }
  return [HEADER, section("", topLevel), ...sections].join("\n");
}

const HEADER = `# Config reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`; do not edit by hand. -->

One YAML file, usually mounted (a Kubernetes ConfigMap; certificates from Secrets). File
paths are relative to the config file. Durations: \`500ms\`, \`30s\`, \`5m\`, \`1h\`. Sizes: a
number of bytes, or \`64Ki\`, \`16Mi\`, \`1Gi\`. Unknown keys and bad values are errors that
name the key path, and the bad value when it is harmless
(\`inbound.timeouts.headers: expected a duration like 500ms, 30s, 5m (got "5sec")\`); a value
that could be a secret is shown as \`<redacted, N chars>\`. A commented example is [config/example/palisade.yaml](../config/example/palisade.yaml);
editors can validate against [config/palisade.schema.json](../config/palisade.schema.json);
\`palisade check -c FILE\` validates a file the way \`palisade run\` loads it. What a reload
changes, and what only a restart does: [operations.md](operations.md#what-a-reload-changes).

"required" inside an optional block (\`telemetry.otlp\`, \`anomaly.webhook\`, …) means
required when the block is present.
`;

function section(key: string, rows: Row[], description?: string): string {
  const title = key === "" ? "## Top level" : `## \`${key}\``;
  const lead = description ? [`${capitalise(description)}.`, ""] : [];
  const lines = rows.map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${cell(r.meaning)} |`);
  const table = ["| key | type | default | meaning |", "|---|---|---|---|", ...lines];
  return [title, "", ...lead, ...table, ""].join("\n");
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function walk(key: string, node: JsonNode, out: JsonNode | undefined, required: boolean): Row[] {
  if (isLeaf(node)) return [row(key, node, out, required)];
  // A map or a list is a key the user writes; a block only groups keys, unless it says more.
  const own = node.description || !node.properties ? [row(key, node, out, required)] : [];
  if (node.properties) {
    const children = Object.entries(node.properties).flatMap(([name, child]) =>
      walk(`${key}.${name}`, child, out?.properties?.[name], isRequired(node, name)),
    );
    return [...own, ...children];
  }
  if (isMapOfObjects(node)) {
    const name = MAP_KEYS[key.split(".").pop() ?? ""] ?? "<name>";
    const values = node.additionalProperties as JsonNode;
    const outValues = typeof out?.additionalProperties === "object" ? out.additionalProperties : {};
    return [...own, ...walk(`${key}.${name}`, values, outValues, false)];
  }
  // A list of objects.
  return [...own, ...walk(`${key}[]`, node.items as JsonNode, out?.items, false)];
}

function isLeaf(node: JsonNode): boolean {
  if (node.properties) return false;
  if (isMapOfObjects(node)) return false;
  return !(node.type === "array" && node.items?.properties);
}

function isMapOfObjects(node: JsonNode): boolean {
  return typeof node.additionalProperties === "object" && !!node.additionalProperties.properties;
}

function isRequired(parent: JsonNode, key: string): boolean {
  return parent.required?.includes(key) ?? false;
}

function row(key: string, node: JsonNode, out: JsonNode | undefined, required: boolean): Row {
  const type = kindOf(node);
  const value = defaultText(type, node, out, required);
  return { key, type, default: value, meaning: node.description ?? "" };
}

/**
 * `required`, the default, or `—` (absent unless written). A block whose default is filled
 * in key by key shows nothing here: its keys' rows say it.
 */
function defaultText(
  type: string,
  node: JsonNode,
  out: JsonNode | undefined,
  required: boolean,
): string {
  if (required) return "required";
  if (!out || !("default" in out)) return "—";
  const value = out.default;
  const filled = typeof value === "object" && value !== null && Object.keys(value).length > 0;
  return node.properties && filled ? "" : format(type, value);
}

function kindOf(node: JsonNode): string {
  if (node.pattern === DURATION_PATTERN) return "duration";
  if (node.anyOf?.some((n) => n.format === "date-time")) return "date-time";
  if (node.anyOf?.some((n) => n.type === "integer") && node.anyOf.some((n) => n.type === "string"))
    return "size";
  if (node.anyOf) return [...new Set(node.anyOf.map(kindOf))].join(" or ");
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  if (node.format === "uri") return "URL";
  if (node.type === "array") return `list of ${plural(kindOf(node.items ?? {}))}`;
  if (node.type === "integer") return node.exclusiveMinimum === 0 ? "integer > 0" : "integer";
  if (node.type === "number") return numberKind(node);
  if (node.type === "object") return isLeaf(node) && node.additionalProperties ? "map" : "object";
  return node.type ?? "any";
}

function numberKind(node: JsonNode): string {
  if (node.minimum !== undefined && node.maximum !== undefined)
    return `number ${node.minimum}–${node.maximum}`;
  return node.exclusiveMinimum === 0 ? "number > 0" : "number";
}

/** `strings`, but `(string or object)` and enum lists as they are. */
function plural(kind: string): string {
  if (kind.includes("`")) return kind;
  return kind.includes(" ") ? `(${kind})` : `${kind}s`;
}

function format(kind: string, value: unknown): string {
  if (typeof value === "number" && kind === "duration")
    return code(withUnit(value, DURATION_UNITS, "ms"));
  if (typeof value === "number" && kind === "size") return code(withUnit(value, SIZE_UNITS, ""));
  if (typeof value === "string") return code(value);
  return code(JSON.stringify(value));
}

/** The largest unit that divides `value` exactly: 300000 ms → `5m`, 16777216 B → `16Mi`. */
function withUnit(value: number, units: [string, number][], base: string): string {
  const unit = units.find(([, size]) => value !== 0 && value % size === 0);
  if (unit) return `${value / unit[1]}${unit[0]}`;
  return value === 0 && base === "ms" ? "0s" : `${value}${base}`;
}

function code(text: string): string {
  return `\`${text}\``;
}

/** Markdown table cells: a literal `|` would end the cell. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}
