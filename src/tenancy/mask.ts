/**
 * Masks for projected fields (DESIGN.md "Masking"): the field leaves, its value does not.
 * - `redact` → "[redacted]";
 * - `hash` → "hmac-sha256:" + base64url(HMAC-SHA-256(key, JSON of the value)): equal values
 *   give equal hashes, so a grantee can join or count on them without learning them, and
 *   without the key cannot test guesses;
 * - `truncate:N` → a string's first N characters (code points, so a surrogate pair is never
 *   cut in half); any other type is redacted, never stringified.
 * Compiled once per config generation (the hash key is the generation's); applying one is
 * a single switch per value.
 */
import { createHmac } from "node:crypto";

export type Mask =
  | { readonly kind: "redact" }
  | { readonly kind: "hash"; readonly key: Buffer }
  | { readonly kind: "truncate"; readonly length: number };

export const REDACTED_VALUE = "[redacted]";
const TRUNCATE = /^truncate:([1-9][0-9]{0,8})$/;

export class MaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MaskError";
  }
}

export function compileMask(mask: string, hashKey: Buffer | undefined): Mask {
  if (mask === "redact") return { kind: "redact" };
  if (mask === "hash") {
    if (hashKey === undefined) throw new MaskError("a hash mask needs projection.hashKeyFile");
    return { kind: "hash", key: hashKey };
  }
  const truncate = TRUNCATE.exec(mask);
  if (truncate) return { kind: "truncate", length: Number(truncate[1]) };
  throw new MaskError('mask must be redact, hash or "truncate:N" (N a positive integer)');
}

/** The masked form of `value`; see the file comment for each mask. */
export function applyMask(value: unknown, mask: Mask): string {
  switch (mask.kind) {
    case "redact":
      return REDACTED_VALUE;
    case "hash": {
      // JSON.stringify gives undefined only for undefined, which JSON never holds.
      const text = JSON.stringify(value) as string | undefined;
      const mac = createHmac("sha256", mask.key).update(text ?? "null");
      return `hmac-sha256:${mac.digest("base64url")}`;
    }
    case "truncate":
      return typeof value === "string" ? firstCodePoints(value, mask.length) : REDACTED_VALUE;
  }
}

/** The first `n` code points: a surrogate pair is never cut in half. */
function firstCodePoints(value: string, n: number): string {
  if (value.length <= n) return value;
  let end = 0;
  for (let count = 0; count < n && end < value.length; count++) {
    const code = value.codePointAt(end) as number;
    end += code > 0xffff ? 2 : 1;
  }
  return value.slice(0, end);
}
