/**
 * Cache keys inside one tenant's partition. The tenant is never part of a key string: it
 * picks the partition, so no key (however crafted) can address another tenant's entries.
 *
 * - primary key: the key space (which side of the sidecar, which origin), the target tenant
 *   and the URL the proxy sends to (origin, base path, path and query). Method-independent,
 *   so HEAD is served from a stored GET. The path is kept byte for byte: normalising it could
 *   make two targets that the origin treats differently share an entry. Nothing the client
 *   sends besides the request-target is in it: a peer's `Host` names no origin (the inbound
 *   side has one, the local app); an origin that varies on it says so with `Vary: host`.
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

/** Whose response an entry holds, besides the path: what decides which resource it is. */
export interface KeyScope {
  /**
   * The key space: `inbound` (the local app) or one outbound upstream by its config name
   * (with what else picks the server that answers it). Two spaces never share an entry,
   * whatever origin, host:port or path they have in common.
   */
  space: string;
  /**
   * Origin and base path the request is sent to, without a trailing `/`
   * (`http://127.0.0.1:8080`, `https://billing:15006/v1`), so that a reload re-pointing an
   * origin does not serve the old origin's entries for the new one.
   */
  base: string;
  /**
   * The target tenant, when the proxy read one. A header-based target rule leaves it out of
   * the URL, so without it `/reports` for a granted target and `/reports` for the caller's
   * own data would share an entry in the caller's partition.
   */
  targetTenant?: string | undefined;
}

/** The URL a request-target is sent to within `scope`: what a purge by URL prefix matches. */
export function originUrl(scope: KeyScope, target: string): string {
  return scope.base + target;
}

export function primaryKey(scope: KeyScope, target: string): string {
  // A JSON array: no value of one field (a path, a configured name) can pass for another.
  return JSON.stringify([scope.space, scope.targetTenant ?? null, originUrl(scope, target)]);
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
  // containing separators. A primary key is JSON too, so it holds no raw `\n`.
  const values = names.map((name) => normaliseValue(headers[name]));
  return `${primary}\n${names.join(",")}\n${JSON.stringify(values)}`;
}

function normaliseValue(value: string | readonly string[] | undefined): string | null {
  if (value === undefined) return null;
  const joined = typeof value === "string" ? value : value.join(", ");
  return joined.replace(/[ \t]*,[ \t]*/g, ", ").trim();
}

/**
 * The primary key of a `Location`/`Content-Location` value when it names a resource under the
 * request's own base (RFC 9111 §4.4: a response must not invalidate another origin's entries,
 * and an upstream's base path bounds what it owns). Best effort: the URL parser normalises
 * the path, so an exotic spelling may not match.
 */
export function sameOriginKey(
  scope: KeyScope,
  target: string,
  reference: string,
): string | undefined {
  try {
    const url = new URL(reference, originUrl(scope, target));
    const resolved = `${url.origin}${url.pathname}${url.search}`;
    if (!resolved.startsWith(`${scope.base}/`)) return undefined;
    return primaryKey(scope, resolved.slice(scope.base.length));
  } catch {
    return undefined;
  }
}
