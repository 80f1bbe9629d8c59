/**
 * Cache keys inside one tenant's partition. The tenant is never part of a key string: it
 * picks the partition, so no key (however crafted) can address another tenant's entries.
 *
 * - primary key: `scheme://authority/path?query`, method-independent so HEAD is served from
 *   a stored GET. The path is kept byte for byte: normalising it could make two targets that
 *   the app treats differently share an entry.
 * - variant key: the primary key plus the request's values of the response's `Vary` headers
 *   (RFC 9111 §4.1), so one URL can hold several variants.
 */
import type { IncomingHttpHeaders } from "node:http";

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i;

/** The origin-form target of a request-target; undefined for `*` and other forms. */
export function originForm(target: string): string | undefined {
  if (target.startsWith("/")) return target;
  const match = ABSOLUTE_FORM.exec(target);
  if (!match) return undefined;
  const rest = match[1] ?? "";
  return rest.startsWith("/") ? rest : rest === "" || rest.startsWith("?") ? `/${rest}` : undefined;
}

/** What, besides the path, decides which resource a request names. */
export interface KeyScope {
  scheme: string;
  authority: string;
  /**
   * The target tenant, when the proxy read one. A header-based target rule leaves it out of
   * the URL, so without it `/reports` for a granted target and `/reports` for the caller's
   * own data would share an entry in the caller's partition.
   */
  targetTenant?: string | undefined;
}

export function primaryKey(scope: KeyScope, target: string): string {
  // Host is case-insensitive (RFC 9110 §4.2.3); the path is not. `#` cannot occur in a
  // request-target, so the target-tenant suffix cannot be forged through the path.
  const url = `${scope.scheme.toLowerCase()}://${scope.authority.toLowerCase()}${target}`;
  return scope.targetTenant === undefined ? url : `${url}#${scope.targetTenant}`;
}

/**
 * The header names a response varies on: lower-case, sorted, unique. `"*"` when the response
 * varies on something outside the request (never stored).
 */
export function parseVary(value: string | readonly string[] | undefined): string[] | "*" {
  if (value === undefined) return [];
  const names = new Set<string>();
  for (const part of typeof value === "string" ? [value] : value) {
    for (const token of part.split(",")) {
      const name = token.trim().toLowerCase();
      if (name === "*") return "*";
      if (name !== "") names.add(name);
    }
  }
  return [...names].sort();
}

/** Request values of `names`, normalised so that cosmetic whitespace does not split variants. */
export function variantKey(
  primary: string,
  names: readonly string[],
  headers: IncomingHttpHeaders,
): string {
  if (names.length === 0) return primary;
  // JSON keeps "absent" (null) apart from "empty" ("") and cannot be confused by values
  // containing separators. `\n` cannot occur in a request-target or Host.
  const values = names.map((name) => normaliseValue(headers[name]));
  return `${primary}\n${names.join(",")}\n${JSON.stringify(values)}`;
}

function normaliseValue(value: string | readonly string[] | undefined): string | null {
  if (value === undefined) return null;
  const joined = typeof value === "string" ? value : value.join(", ");
  return joined.replace(/[ \t]*,[ \t]*/g, ", ").trim();
}

/**
 * The primary key of a `Location`/`Content-Location` value when it names the same origin as
 * the request (RFC 9111 §4.4: a response must not invalidate another origin's entries).
 * Best effort: the URL parser normalises the path, so an exotic spelling may not match.
 */
export function sameOriginKey(
  scope: KeyScope,
  target: string,
  reference: string,
): string | undefined {
  try {
    const base = new URL(primaryKey({ ...scope, targetTenant: undefined }, target));
    const url = new URL(reference, base);
    if (url.origin !== base.origin) return undefined;
    return primaryKey(scope, `${url.pathname}${url.search}`);
  } catch {
    return undefined;
  }
}
