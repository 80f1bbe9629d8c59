/**
 * Target-tenant rules: where a request names the tenant that owns the addressed resource
 * (a path segment, a host label, a header). Compiled once per config generation; resolving
 * is a few string comparisons. Every configured source that is present must agree, and a
 * tenant segment that is not a valid tenant id is refused, never normalised.
 */
import type { TargetRuleConfig } from "../config/schema.js";
import { isTenantId } from "./tenant-id.js";
import { foldedName } from "../http/field-name.js";
import { MAX_DECODE_ROUNDS } from "./request-path.js";

export type TargetResult =
  | { ok: true; target: string | undefined }
  | { ok: false; reason: "disagree" | "repeated" | "invalid" };

export interface TargetInput {
  /** Canonical path segments (see request-path.ts); undefined when the path was refused. */
  segments: readonly string[];
  host: string | undefined;
  /** Values of the configured target header, as received. */
  header: readonly string[] | undefined;
}

export interface TargetRule {
  readonly header: string | undefined;
  readonly usesPath: boolean;
  /** The path pattern as configured (`/tenants/{tenant}/**`): a route template for traces. */
  readonly pathPattern: string | undefined;
  resolve(input: TargetInput): TargetResult;
}

const NO_TARGET: TargetResult = { ok: true, target: undefined };
const INVALID: TargetResult = { ok: false, reason: "invalid" };

export function compileTargetRule(config: TargetRuleConfig): TargetRule {
  const path = config.path === undefined ? undefined : compilePathPattern(config.path);
  const host = config.host === undefined ? undefined : compileHostPattern(config.host);
  // Read under every spelling an app may read it as (`x_target_tenant`, `x.target.tenant`).
  const header = config.header === undefined ? undefined : foldedName(config.header);
  return {
    header,
    usesPath: path !== undefined,
    pathPattern: config.path,
    resolve(input) {
      let target: string | undefined;
      for (const found of [
        path?.(input.segments),
        host && input.host !== undefined ? host(input.host) : undefined,
        header === undefined ? undefined : fromHeader(input.header),
      ]) {
        if (found === undefined) continue;
        if (!found.ok) return found;
        if (found.target === undefined) continue;
        if (target !== undefined && target !== found.target)
          return { ok: false, reason: "disagree" };
        target = found.target;
      }
      return target === undefined ? NO_TARGET : { ok: true, target };
    },
  };
}

function fromHeader(values: readonly string[] | undefined): TargetResult {
  if (values === undefined || values.length === 0) return NO_TARGET;
  if (values.length > 1) return { ok: false, reason: "repeated" };
  const value = values[0] as string;
  return isTenantId(value) ? { ok: true, target: value } : INVALID;
}

/**
 * `/tenants/{tenant}/**`: the tenant is read whenever the segments up to and including
 * `{tenant}` match, whatever follows, so a path that differs from the pattern only after
 * the tenant segment (`/tenants/acme/`, `/tenants/acme/other`) still names `acme` — an app
 * router may well accept it. Literal segments match ASCII case-insensitively, so an app
 * with a case-insensitive router cannot be reached at `/TENANTS/globex` as if no tenant
 * were named. A literal disguised by percent-encoding or a `;` parameter is refused: a
 * decoding or matrix-parameter-stripping router could read `/%74enants/acme` or `/tenants;x/acme` as
 * naming `acme`. The tenant segment itself is never case-folded or decoded.
 */
function compilePathPattern(pattern: string): (segments: readonly string[]) => TargetResult {
  const parts = pattern.split("/").slice(1);
  const tenantIndex = parts.indexOf("{tenant}");
  const literals = parts
    .slice(0, tenantIndex)
    .map((p) => (p === "*" || p === "**" ? undefined : p.toLowerCase()));
  return (segments) => {
    if (segments.length <= tenantIndex) return NO_TARGET;
    let disguised = false;
    for (let i = 0; i < tenantIndex; i++) {
      const literal = literals[i];
      if (literal === undefined) continue;
      const segment = (segments[i] as string).toLowerCase();
      if (segment === literal) continue;
      if (asRouterMaySee(segment) !== literal) return NO_TARGET;
      disguised = true;
    }
    const tenant = segments[tenantIndex] as string;
    return !disguised && isTenantId(tenant) ? { ok: true, target: tenant } : INVALID;
  };
}

/**
 * A segment as a decoding, matrix-parameter-stripping router would read it, decoding as
 * often as an app that decodes twice (or thrice) would: `%2574enants` is `tenants` there.
 */
function asRouterMaySee(segment: string): string {
  let current = segment;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round++) {
    const semicolon = current.indexOf(";");
    if (semicolon !== -1) current = current.slice(0, semicolon);
    if (!current.includes("%")) return current;
    try {
      current = decodeURIComponent(current).toLowerCase();
    } catch {
      return current;
    }
  }
  return current;
}

/**
 * `{tenant}.api.example`: the suffix matches case-insensitively (DNS), the label exactly.
 * A trailing dot (the absolute form of the same name) is removed first.
 */
function compileHostPattern(pattern: string): (host: string) => TargetResult {
  const suffix = pattern.slice(pattern.indexOf("{tenant}") + "{tenant}".length).toLowerCase();
  const prefix = pattern.slice(0, pattern.indexOf("{tenant}")).toLowerCase();
  return (rawHost) => {
    let host = stripPort(rawHost);
    if (host.endsWith(".")) host = host.slice(0, -1);
    const lower = host.toLowerCase();
    if (!lower.endsWith(suffix) || !lower.startsWith(prefix)) return NO_TARGET;
    if (host.length <= prefix.length + suffix.length) return NO_TARGET;
    const tenant = host.slice(prefix.length, host.length - suffix.length);
    return isTenantId(tenant) ? { ok: true, target: tenant } : INVALID;
  };
}

function stripPort(host: string): string {
  if (host.startsWith("[")) return host;
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}
