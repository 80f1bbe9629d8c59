/**
 * JSON projection for grants with `fields`: only the listed fields leave, at every depth.
 * A response that cannot be projected is refused, never passed through unprojected.
 *
 * Field paths: `id`, `customer.name` (nested object), `items[]` (an array, elements kept
 * whole), `items[].id` (an array of objects, each projected), `items[].tags[]`,
 * `matrix[][]`. A bare name keeps the whole value, whatever it is; `customer` together
 * with `customer.name` keeps all of `customer`. Naming one field both as an array and as
 * an object (`items[].id` and `items.id`) is refused at compile time.
 *
 * Masks (`{ path, mask }`, see mask.ts) let a field leave without its value. A masked
 * path is a leaf, applied to whatever value is found there (an object is masked whole):
 * it may not also be listed plainly, nor lie inside a field kept whole (the mask would be
 * a lie).
 *
 * Projecting: an object missing a field just lacks it; where an object (or array) is
 * expected and something else is found, the value is dropped — from an array, the element
 * is left out. A top-level array is projected element-wise. Keys come out in the order the
 * projection lists them.
 */
import type { FieldConfig } from "../config/schema.js";
import { applyMask, compileMask, MaskError, type Mask } from "./mask.js";

type Node = KeepNode | MaskNode | ObjectNode | ArrayNode;
interface KeepNode {
  readonly kind: "keep";
}
interface MaskNode {
  readonly kind: "mask";
  readonly mask: Mask;
}
interface ObjectNode {
  readonly kind: "object";
  readonly fields: Map<string, Node>;
}
interface ArrayNode {
  readonly kind: "array";
  element: Node;
}

/** A compiled `fields` list, built once per config generation; read-only afterwards. */
export interface Projection {
  /** The fields as configured (`path`, or `path (mask)`), for audit records and `/config`. */
  readonly fields: readonly string[];
  readonly root: ObjectNode;
}

export interface ProjectionOptions {
  /** Raw bytes of `projection.hashKeyFile`; a `hash` mask without it is refused. */
  hashKey?: Buffer | undefined;
}

export class ProjectionError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`invalid projection field ${JSON.stringify(field)}: ${problem}`);
    this.name = "ProjectionError";
  }
}

const KEEP: Node = { kind: "keep" };
const NAME = /^[^.[\]]+$/;

/** Why `field` is not a valid field path, or undefined when it is. For config validation. */
export function projectionFieldProblem(field: string): string | undefined {
  for (const step of field.split(".")) {
    const name = step.replace(/(\[\])+$/, "");
    if (!NAME.test(name)) return "expected names separated by '.', each optionally followed by []";
  }
  return undefined;
}

/** The field path of a `fields` entry, masked or not. */
export function fieldPath(field: FieldConfig): string {
  return typeof field === "string" ? field : field.path;
}

export function compileProjection(
  fields: readonly FieldConfig[],
  options: ProjectionOptions = {},
): Projection {
  if (fields.length === 0) throw new ProjectionError("", "a projection needs at least one field");
  const root: ObjectNode = { kind: "object", fields: new Map() };
  for (const field of fields) {
    const path = fieldPath(field);
    const problem = projectionFieldProblem(path);
    if (problem !== undefined) throw new ProjectionError(path, problem);
    const leaf: Node =
      typeof field === "string" ? KEEP : { kind: "mask", mask: maskOf(field.mask, path, options) };
    addField(root, path, leaf);
  }
  const described = fields.map((f) => (typeof f === "string" ? f : `${f.path} (${f.mask})`));
  return { fields: described, root };
}

function maskOf(mask: string, field: string, options: ProjectionOptions): Mask {
  try {
    return compileMask(mask, options.hashKey);
  } catch (error) {
    if (error instanceof MaskError) throw new ProjectionError(field, error.message);
    throw error;
  }
}

/** Adds one path to the tree, merging with what earlier fields built. */
function addField(root: ObjectNode, field: string, leaf: Node): void {
  const steps = field.split(".");
  let parent: ObjectNode = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as string;
    const name = step.replace(/(\[\])+$/, "");
    const depth = (step.length - name.length) / 2;
    const last = i === steps.length - 1;
    let wanted: Node = last ? leaf : { kind: "object", fields: new Map() };
    for (let d = 0; d < depth; d++) wanted = { kind: "array", element: wanted };
    const merged = merge(parent.fields.get(name), wanted, field);
    parent.fields.set(name, merged);
    if (last) return;
    let inner: Node = merged;
    while (inner.kind === "array") inner = inner.element;
    if (inner.kind === "keep" && leaf.kind === "mask")
      throw new ProjectionError(field, "masked inside a field that is kept whole");
    if (inner.kind !== "object") return; // an ancestor is kept whole already
    parent = inner;
  }
}

function merge(existing: Node | undefined, wanted: Node, field: string): Node {
  if (existing === undefined) return wanted;
  if (existing.kind === "mask" || wanted.kind === "mask")
    throw new ProjectionError(field, "a masked field is listed again, or lies under another");
  if (existing.kind === "keep" || wanted.kind === "keep") {
    if (hasMask(existing) || hasMask(wanted))
      throw new ProjectionError(field, "kept whole, which would reveal a masked field inside it");
    return KEEP;
  }
  if (existing.kind === "array" && wanted.kind === "array") {
    existing.element = merge(existing.element, wanted.element, field);
    return existing;
  }
  if (existing.kind === "object" && wanted.kind === "object") return existing;
  throw new ProjectionError(field, "named both as an array and as an object");
}

function hasMask(node: Node): boolean {
  switch (node.kind) {
    case "keep":
      return false;
    case "mask":
      return true;
    case "array":
      return hasMask(node.element);
    case "object":
      return [...node.fields.values()].some(hasMask);
  }
}

/** Returns the projection of `value`, or undefined when nothing of it may leave. */
export function project(value: unknown, projection: Projection): unknown {
  const root = projection.root;
  if (Array.isArray(value)) return projectArray(value, { kind: "array", element: root });
  return projectNode(value, root);
}

function projectNode(value: unknown, node: Node): unknown {
  switch (node.kind) {
    case "keep":
      return value;
    case "mask":
      return applyMask(value, node.mask);
    case "array":
      return Array.isArray(value) ? projectArray(value, node) : undefined;
    case "object":
      return isPlainObject(value) ? projectObject(value, node.fields) : undefined;
  }
}

function projectArray(values: readonly unknown[], node: ArrayNode): unknown[] {
  const out: unknown[] = [];
  for (const value of values) {
    const projected = projectNode(value, node.element);
    if (projected !== undefined) out.push(projected);
  }
  return out;
}

function projectObject(value: Record<string, unknown>, fields: ReadonlyMap<string, Node>): object {
  // No prototype: a `__proto__` field is then an ordinary key, as it was in the JSON.
  const out = Object.create(null) as Record<string, unknown>;
  for (const [name, node] of fields) {
    if (!Object.hasOwn(value, name)) continue;
    const projected = projectNode(value[name], node);
    if (projected !== undefined) out[name] = projected;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export type ProjectedBody =
  { ok: true; body: Buffer } | { ok: false; reason: "not_json" | "too_large" | "invalid_json" };

/**
 * Response headers that may leave with a projected body. Everything else is dropped,
 * because it can describe the unprojected body: `etag` and `last-modified` identify its
 * version (and change when a hidden field changes), `content-length` gives its size,
 * `content-encoding`/`digest`/`content-range` describe its bytes, and custom headers may
 * carry any field. The caller sets `content-length` from the projected body. `vary` stays
 * so that caches keep variants apart; it names request headers, not response data.
 */
export const allowedProjectedHeaders: ReadonlySet<string> = new Set([
  "content-type",
  "cache-control",
  "date",
  "vary",
]);

/** `application/json` or `application/<subtype>+json` (RFC 6839), parameters aside. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses, projects and re-serialises a buffered response body. The body must be the
 * identity-encoded bytes (a compressed body is not JSON here and is refused).
 * A value that projects to nothing (a top-level primitive) leaves as `null`.
 */
export function projectResponseBody(
  buffer: Buffer,
  contentType: string | undefined,
  projection: Projection,
  maxBytes: number,
): ProjectedBody {
  if (!isJsonContentType(contentType)) return { ok: false, reason: "not_json" };
  if (buffer.length > maxBytes) return { ok: false, reason: "too_large" };
  let value: unknown;
  try {
    // Strips a UTF-8 BOM; refuses invalid UTF-8 instead of replacing it.
    value = JSON.parse(utf8.decode(buffer));
  } catch {
    return { ok: false, reason: "invalid_json" };
  }
  const projected = project(value, projection) ?? null;
  return { ok: true, body: Buffer.from(JSON.stringify(projected)) };
}

/** JSON is UTF-8 (RFC 8259 §8.1): any other declared charset is refused, not guessed at. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [essence = "", ...params] = contentType.split(";");
  if (!JSON_MEDIA_TYPE.test(essence.trim().toLowerCase())) return false;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") return false;
  }
  return true;
}
