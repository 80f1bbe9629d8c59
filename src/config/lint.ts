/**
 * Policy lint for `palisade check`: things that validate but weaken isolation, and every
 * certificate problem at once (the loader stops at the first). Each finding names a rule
 * (a stable, lower_snake_case id that CI may filter on) and the key path to fix.
 */
import type { Config } from "./schema.js";
import { lintCertificates } from "./lint-certs.js";
import { lintGrants } from "./lint-grants.js";
import { lintResidency } from "./lint-residency.js";
import { lintSharedCas } from "./lint-shared-ca.js";
import { listenConflict } from "./listen.js";
import type { InspectedTenant } from "../tls/tenant-material.js";

export type FindingLevel = "error" | "warning";

export interface Finding {
  level: FindingLevel;
  rule: string;
  message: string;
  /** Key path in the config (`tenants.acme.cert`, `grants.0.paths.1`); null for the whole file. */
  path: string | null;
}

export interface LintInput {
  config: Config;
  /** Certificate and key paths in the config are relative to this directory. */
  baseDir: string;
  /** Grant and certificate expiry are judged at this time. */
  now: Date;
  /**
   * Reads a certificate, key or CA file (absolute path). A reload passes the bytes it has
   * seen settle, so lint judges exactly what the generation is built from; default: disk.
   */
  readText?: (path: string) => Promise<string>;
  /** Environment `run` would see (PALISADE_REGION); default: this process's. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The one rule for what stops a config: an error finding. `palisade check` exits 1 on it;
 * `palisade run` and every reload refuse the config (config/admit.ts). Warnings never do.
 */
export function isError(finding: Finding): boolean {
  return finding.level === "error";
}

/** `rule (key.path): message`, as `check` prints it and a refused reload logs it. */
export function describeFinding(finding: Finding): string {
  const at = finding.path === null ? "" : ` (${finding.path})`;
  return `${finding.rule}${at}: ${finding.message}`;
}

/** Every finding, errors first; within a level, in config order. */
export async function lintConfig(input: LintInput): Promise<Finding[]> {
  return (await lintAndInspect(input)).findings;
}

/**
 * `lintConfig`, and each tenant's files as read and parsed when they have no error: a
 * config that is admitted is built from them (config/admit.ts) instead of a second read.
 */
export async function lintAndInspect(
  input: LintInput,
): Promise<{ findings: Finding[]; inspected: ReadonlyMap<string, InspectedTenant> }> {
  const certs = await lintCertificates(input);
  const findings = [
    ...lintListeners(input.config),
    ...lintRoutes(input.config),
    ...certs.findings,
    ...lintSharedCas(certs.tenants, input.now),
    ...lintGrants(input.config, input.now),
    ...lintResidency(input.config, sidecarRegion(input)),
  ];
  // Array.prototype.sort is stable, so config order survives within a level.
  findings.sort((a, b) => Number(!isError(a)) - Number(!isError(b)));
  return { findings, inspected: certs.inspected };
}

/** The region `run` would take; an invalid PALISADE_REGION is the loader's error, not lint's. */
function sidecarRegion(input: LintInput): string | undefined {
  return input.config.region ?? ((input.env ?? process.env)["PALISADE_REGION"] || undefined);
}

const LISTENERS = ["inbound", "outbound", "admin", "stats"] as const;

/**
 * Two listeners on one fixed port of overlapping hosts (`run` could never bind both), and a
 * per-address handshake cap that cannot stop one address from taking them all.
 */
export function lintListeners(config: Config): Finding[] {
  const findings: Finding[] = [];
  LISTENERS.forEach((name, i) => {
    const listen = config[name].listen;
    const earlier = LISTENERS.slice(0, i).find((other) =>
      listenConflict(config[other].listen, listen),
    );
    if (earlier === undefined) return;
    findings.push({
      level: "error",
      rule: "listen_address_conflict",
      message: `${listen} overlaps ${earlier}.listen (${config[earlier].listen}): both cannot bind`,
      path: `${name}.listen`,
    });
  });
  const { pendingHandshakes, pendingHandshakesPerAddress } = config.inbound.limits;
  if (pendingHandshakesPerAddress >= pendingHandshakes) {
    findings.push({
      level: "warning",
      rule: "pending_handshakes_per_address_ineffective",
      message: `pendingHandshakesPerAddress (${pendingHandshakesPerAddress}) is not below pendingHandshakes (${pendingHandshakes}): one peer address can take every pending handshake and lock the others out`,
      path: "inbound.limits.pendingHandshakesPerAddress",
    });
  }
  return findings;
}

/** Listener and upstream settings that quietly turn a check off. */
export function lintRoutes(config: Config): Finding[] {
  const findings: Finding[] = [];
  if (!hasTargetSource(config.inbound.target)) {
    findings.push({
      level: "warning",
      rule: "inbound_target_missing",
      message:
        "no inbound target rule (path, host or header): every request is treated as the caller's own, so the app alone must keep tenants apart",
      path: "inbound.target",
    });
  }
  if (config.outbound.allowUnsignedTenant) {
    findings.push({
      level: "warning",
      rule: "unsigned_tenant_allowed",
      message:
        "the app may name the calling tenant with a plain x-palisade-tenant header: a confused or compromised app can call as any tenant this sidecar holds a certificate for",
      path: "outbound.allowUnsignedTenant",
    });
  }
  for (const [name, upstream] of Object.entries(config.outbound.upstreams)) {
    const urls =
      upstream.endpoints?.map((e, i) => ({ url: e.url, path: `endpoints.${i}.url` })) ??
      (upstream.url === undefined ? [] : [{ url: upstream.url, path: "url" }]);
    for (const { url, path } of urls) {
      // The same test as the generation's `tls` flag: URL lower-cases the scheme.
      if (new URL(url).protocol !== "http:") continue;
      findings.push({
        level: "warning",
        rule: "upstream_plain_http",
        message: `upstream ${name} is plain http: the tenant assertion is sent without mTLS, so the peer cannot verify it and anyone on the path can read or forge it`,
        path: `outbound.upstreams.${name}.${path}`,
      });
    }
    if (!hasTargetSource(upstream.target)) {
      findings.push({
        level: "warning",
        rule: "upstream_target_missing",
        message: `upstream ${name} has no target rule: the app's calls to another tenant's resources are not stopped before they leave the pod`,
        path: `outbound.upstreams.${name}.target`,
      });
    }
  }
  return findings;
}

function hasTargetSource(rule: Config["inbound"]["target"]): boolean {
  return rule.path !== undefined || rule.host !== undefined || rule.header !== undefined;
}
