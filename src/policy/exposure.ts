/**
 * What a grant lets leave of a response: all of it, or its projection (`fields`, masks
 * included). `check --diff` compares exposures so that a grant that keeps its paths but
 * reveals more (a field added, a mask dropped, `fields` removed) still shows as opening.
 */
import type { FieldConfig } from "../config/schema.js";

/** `whole`, or the projection's entries: a plain path, or a path with its mask. */
export type Exposure = "whole" | ReadonlyMap<string, string | undefined>;

export function exposureOf(fields: readonly FieldConfig[] | undefined): Exposure {
  if (fields === undefined) return "whole";
  const entries = new Map<string, string | undefined>();
  for (const field of fields) {
    if (typeof field === "string") entries.set(field, undefined);
    else if (!entries.has(field.path)) entries.set(field.path, field.mask);
  }
  return entries;
}

/** Several grants on one path: the response leaves with whatever any of them allows. */
export function unionExposure(a: Exposure, b: Exposure): Exposure {
  if (a === "whole" || b === "whole") return "whole";
  const out = new Map(a);
  for (const [path, mask] of b) {
    if (!out.has(path)) out.set(path, mask);
    else out.set(path, revealingMore(out.get(path), mask));
  }
  return out;
}

/** Of two masks on one path, the one that reveals more; plain (undefined) when unsure. */
function revealingMore(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (maskCovers(a, b)) return a;
  return maskCovers(b, a) ? b : undefined;
}

/** Whether everything `inner` reveals, `outer` reveals too. Conservative: unsure is no. */
export function exposureCovers(outer: Exposure, inner: Exposure): boolean {
  if (outer === "whole") return true;
  if (inner === "whole") return false;
  for (const [path, mask] of inner) if (!fieldCovered(outer, path, mask)) return false;
  return true;
}

function fieldCovered(
  outer: ReadonlyMap<string, string | undefined>,
  path: string,
  mask: string | undefined,
): boolean {
  for (const [kept, keptMask] of outer) {
    if (keptMask !== undefined) continue;
    // A field kept plainly covers itself and everything inside it (`items` ⊇ `items[].id`).
    const next = path.charAt(kept.length);
    if (path === kept || (path.startsWith(kept) && (next === "." || next === "["))) return true;
  }
  if (mask === undefined || !outer.has(path)) return false;
  return maskCovers(outer.get(path), mask);
}

/** `redact` reveals nothing; a shorter truncation reveals less; a hash only what it did. */
function maskCovers(outer: string | undefined, inner: string): boolean {
  if (outer === undefined || inner === "redact" || outer === inner) return true;
  const o = /^truncate:(\d+)$/.exec(outer);
  const i = /^truncate:(\d+)$/.exec(inner);
  return o !== null && i !== null && Number(i[1]) <= Number(o[1]);
}

export function describeExposure(exposure: Exposure): string {
  if (exposure === "whole") return "whole responses";
  return [...exposure]
    .map(([path, mask]) => (mask === undefined ? path : `${path} (${mask})`))
    .join(", ");
}
