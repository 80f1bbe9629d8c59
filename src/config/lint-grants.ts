/**
 * Grant lint: grants are the only way across tenants, so a grant that is broader, longer
 * or more writable than it looks is where isolation is lost by configuration. Globs and
 * projections are also checked here with the grant table's own validators, so that every
 * grant the table would refuse is reported at once, not only the first.
 */
import { pathGlobProblem } from "../tenancy/path-glob.js";
import { compileProjection, fieldPath, ProjectionError } from "../tenancy/projection.js";
import type { Finding } from "./lint.js";
import { redactText, showRejected } from "./redact.js";
import type { Config, GrantConfig } from "./schema.js";

const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const DAY_MS = 86_400_000;
/** Grants are meant to expire; one that lasts longer than this is effectively permanent. */
export const LONG_LIVED_GRANT_MS = 365 * DAY_MS;

export function lintGrants(config: Config, now: Date): Finding[] {
  const findings = config.grants.flatMap((grant, i) => {
    const at = (key: string) => `grants.${i}.${key}`;
    const name = grantName(grant, i);
    return [
      ...lintParties(config, grant, name, at),
      ...lintPaths(grant, name, at),
      ...lintFields(grant, name, at("fields"), config.projection.hashKeyFile !== undefined),
      ...lintExpiry(grant, name, at("expires"), now),
    ];
  });
  return [...findings, ...lintIds(config.grants)];
}

/**
 * Audit records and metrics name grants by id, and the grant table refuses two grants with
 * one id. (The ids it derives for grants without one, `from->to#index`, cannot collide:
 * the schema allows no `>` or `#` in an id.)
 */
function lintIds(grants: readonly GrantConfig[]): Finding[] {
  const findings: Finding[] = [];
  const firstById = new Map<string, number>();
  grants.forEach(({ id }, i) => {
    if (id === undefined) return;
    const first = firstById.get(id);
    if (first === undefined) {
      firstById.set(id, i);
      return;
    }
    findings.push({
      level: "error",
      rule: "grant_duplicate_id",
      message: `grant id "${id}" is also used by grants.${first}: audit records and metrics could not tell them apart`,
      path: `grants.${i}.id`,
    });
  });
  return findings;
}

/** Stands in for the hash key file's bytes: lint judges the fields, not the key. */
const PLACEHOLDER_KEY = Buffer.alloc(32);

function lintFields(grant: GrantConfig, name: string, path: string, hasKey: boolean): Finding[] {
  if (grant.fields === undefined) return [];
  const findings: Finding[] = [...lintDuplicateFields(grant.fields, name, path)];
  try {
    compileProjection(grant.fields, { hashKey: hasKey ? PLACEHOLDER_KEY : undefined });
  } catch (err) {
    findings.push({
      level: "error",
      rule: "grant_invalid_fields",
      message: `${name}: ${describeProjectionError(err as Error, path)}`,
      path,
    });
  }
  const writes = writeMethods(grant);
  if (writes.length > 0) {
    findings.push({
      level: "warning",
      rule: "grant_write_fields",
      message: `${name} allows ${writes.join(", ")} with fields: the projection only filters responses, request bodies reach ${grant.to} whole`,
      path,
    });
  }
  return findings;
}

/**
 * A plain path listed twice is harmless but says the list was not read carefully; one
 * listed again with a mask is refused by the projection (error above), not reported here.
 */
function lintDuplicateFields(
  fields: NonNullable<GrantConfig["fields"]>,
  name: string,
  path: string,
): Finding[] {
  const seen = new Set<string>();
  const findings: Finding[] = [];
  fields.forEach((field, j) => {
    if (typeof field !== "string") return;
    if (!seen.has(field)) {
      seen.add(field);
      return;
    }
    findings.push({
      level: "warning",
      rule: "grant_duplicate_field",
      message: `${name} lists field ${showRejected(fieldPath(field), `${path}.${j}`.split("."))} more than once`,
      path: `${path}.${j}`,
    });
  });
  return findings;
}

function lintParties(
  config: Config,
  grant: GrantConfig,
  name: string,
  at: (key: string) => string,
): Finding[] {
  const findings: Finding[] = [];
  for (const side of ["from", "to"] as const) {
    const tenant = config.tenants[grant[side]];
    if (tenant === undefined) {
      findings.push({
        level: "error",
        rule: "grant_unknown_tenant",
        message: `${name} names tenant "${grant[side]}", which is not configured (a typo, or a tenant that was removed)`,
        path: at(side),
      });
    } else if (tenant.revoked) {
      findings.push({
        level: "warning",
        rule: "grant_revoked_tenant",
        message: `${name} names revoked tenant "${grant[side]}": it is inert until the tenant is restored, and would come back with it`,
        path: at(side),
      });
    }
  }
  return findings;
}

function lintPaths(grant: GrantConfig, name: string, at: (key: string) => string): Finding[] {
  const findings: Finding[] = [];
  const writes = writeMethods(grant);
  grant.paths.forEach((path, j) => {
    const keyPath = at(`paths.${j}`).split(".");
    // Quoted as `/config` shows it; a refused one is a rejected value, shown only if harmless.
    const glob = redactText(path, keyPath);
    const problem = pathGlobProblem(path);
    if (problem !== undefined) {
      findings.push({
        level: "error",
        rule: "grant_invalid_path",
        message: `${name} path ${showRejected(path, keyPath)} is not a valid path glob: ${problem}`,
        path: at(`paths.${j}`),
      });
    }
    const broad = isBroadGlob(path);
    if (broad) {
      findings.push({
        level: "error",
        rule: "grant_wildcard_path",
        message: `${name} path "${glob}" starts with a wildcard: it opens every resource of ${grant.to}, not a named part of it`,
        path: at(`paths.${j}`),
      });
    }
    if (writes.length > 0 && path.includes("**")) {
      findings.push({
        level: broad ? "error" : "warning",
        rule: "grant_wildcard_write",
        message: `${name} allows ${writes.join(", ")} on "${glob}": ${grant.from} may change anything below it, including resources added later`,
        path: at(`paths.${j}`),
      });
    }
  });
  return findings;
}

function lintExpiry(grant: GrantConfig, name: string, path: string, now: Date): Finding[] {
  const left = grant.expires.getTime() - now.getTime();
  if (left <= 0) {
    return [
      {
        level: "warning",
        rule: "grant_expired",
        message: `${name} expired at ${grant.expires.toISOString()}: it no longer allows anything; remove it`,
        path,
      },
    ];
  }
  if (left > LONG_LIVED_GRANT_MS) {
    return [
      {
        level: "warning",
        rule: "grant_long_lived",
        message: `${name} expires ${grant.expires.toISOString()}, more than a year out: grants should be renewed on purpose, not forgotten`,
        path,
      },
    ];
  }
  return [];
}

/** `/**`, `/*`, `/*x/…`: a glob whose first segment is a wildcard matches every top-level resource. */
export function isBroadGlob(glob: string): boolean {
  const first = glob.slice(1).split("/")[0] ?? "";
  return first.includes("*");
}

function writeMethods(grant: GrantConfig): string[] {
  return grant.methods.filter((m) => WRITE_METHODS.has(m));
}

function grantName(grant: GrantConfig, i: number): string {
  return grant.id === undefined
    ? `grant #${i} (${grant.from} → ${grant.to})`
    : `grant "${grant.id}" (${grant.from} → ${grant.to})`;
}

/** The projection's own message, with the refused field shown only if harmless. */
function describeProjectionError(err: Error, path: string): string {
  if (!(err instanceof ProjectionError)) return err.message;
  const field = showRejected(err.field, path.split("."));
  return `invalid projection field ${field}: ${err.problem}`;
}
