/**
 * The tenant-to-tenant paths a config opens, as `check --diff` compares them: one line per
 * (caller, owner, method, path glob) of every grant that allows anything now. A grant opens
 * nothing when it is disabled, in audit mode, expired, or names a tenant that is revoked or
 * not configured (the grant table omits it). HEAD is implied by GET, as in the table.
 */
import type { Config, GrantConfig } from "../config/schema.js";
import { exposureOf, unionExposure, type Exposure } from "./exposure.js";

export interface AccessLine {
  readonly from: string;
  readonly to: string;
  readonly method: string;
  readonly path: string;
  /** What of the response leaves, over every grant opening this line. */
  readonly exposure: Exposure;
  /** Ids of the grants opening it (configured id, else `from->to#index`). */
  readonly grants: readonly string[];
}

export function accessKey(line: Pick<AccessLine, "from" | "to" | "method" | "path">): string {
  return `${line.from} -> ${line.to} ${line.method} ${line.path}`;
}

/** Every line the config opens at `now`, keyed by `accessKey`. */
export function openPaths(config: Config, now: Date): Map<string, AccessLine> {
  const lines = new Map<string, AccessLine>();
  config.grants.forEach((grant, index) => {
    if (!opensAnything(config, grant, now)) return;
    const id = grant.id ?? `${grant.from}->${grant.to}#${index}`;
    const exposure = exposureOf(grant.fields);
    for (const method of effectiveMethods(grant.methods)) {
      for (const path of grant.paths) {
        const key = accessKey({ from: grant.from, to: grant.to, method, path });
        const existing = lines.get(key);
        lines.set(key, {
          from: grant.from,
          to: grant.to,
          method,
          path,
          exposure: existing ? unionExposure(existing.exposure, exposure) : exposure,
          grants: existing ? [...existing.grants, id] : [id],
        });
      }
    }
  });
  return lines;
}

function opensAnything(config: Config, grant: GrantConfig, now: Date): boolean {
  if (!grant.enabled || grant.mode !== "enforce") return false;
  if (!(now.getTime() < grant.expires.getTime())) return false;
  return isActive(config, grant.from) && isActive(config, grant.to);
}

function isActive(config: Config, tenant: string): boolean {
  const t = config.tenants[tenant];
  return t !== undefined && !t.revoked;
}

function effectiveMethods(methods: readonly string[]): Set<string> {
  const set = new Set(methods);
  if (set.has("GET")) set.add("HEAD");
  return set;
}
