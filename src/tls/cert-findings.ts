/**
 * Findings about each certificate of one tenant file on its own, before any chain is built:
 * validity, what it may be where it stands (a leaf that says it is a CA, a CA bundle with
 * nothing that may issue), extensions Palisade cannot process and keys peers refuse. The
 * chain and the identity are judged in `inspect-tenant.ts`.
 */
import { X509Certificate } from "node:crypto";
import { inspect, validAt, type CertView } from "./inspect.js";
import { acceptableKey } from "./presented-chain.js";

export type FindingLevel = "error" | "warning";

export interface CertFinding {
  level: FindingLevel;
  /** Stable, lower_snake_case: CI filters on it. */
  rule: string;
  message: string;
  /** Key path in the config: `tenants.<tenant>.ca|cert|key`. */
  path: string;
}

/** Renewal should have happened well before this; a warning leaves time to do it. */
export const EXPIRY_WARNING_MS = 30 * 86_400_000;

/**
 * The CA bundle. A stale certificate beside a valid one is a rollover's leftover: only a
 * warning. A bundle in which nothing may issue can verify no chain at all.
 */
export function caBundleFindings(
  roots: readonly X509Certificate[],
  now: Date,
  path: string,
): CertFinding[] {
  const views = roots.map(inspect);
  const level = views.some((v) => validAt(v, now)) ? "warning" : "error";
  const findings = views.flatMap((v) => [
    ...validityFindings(v, now, path, level),
    ...extensionFindings(v, path),
  ]);
  if (!views.some((v) => v.canIssue)) {
    const names = views.map(certLabel).join(", ");
    findings.push(
      finding(
        "error",
        "cert_not_a_ca",
        path,
        `nothing in the CA bundle may issue certificates (needs basicConstraints cA=TRUE, and keyCertSign when keyUsage is present): ${names}`,
      ),
    );
  }
  return findings;
}

/** The cert file: the leaf and the intermediates sent with it, as every peer will judge them. */
export function servedChainFindings(
  chain: readonly X509Certificate[],
  now: Date,
  path: string,
): CertFinding[] {
  return chain
    .map(inspect)
    .flatMap((v, i) => [
      ...validityFindings(v, now, path, "error"),
      ...(i === 0 && v.claimsCa
        ? [
            finding(
              "error",
              "cert_leaf_is_ca",
              path,
              `${certLabel(v)} says cA=TRUE: peers refuse a CA certificate as a workload identity (ca_leaf)`,
            ),
          ]
        : []),
      ...(acceptableKey(v.key)
        ? []
        : [
            finding(
              "error",
              "cert_bad_key",
              path,
              `${certLabel(v)} has a ${v.key.type ?? "unknown"} key peers refuse (bad_key): RSA up to 8192 bits, P-256, P-384, Ed25519 or Ed448`,
            ),
          ]),
      ...extensionFindings(v, path),
    ]);
}

function extensionFindings(view: CertView, path: string): CertFinding[] {
  const findings: CertFinding[] = [];
  const unreadable = view.unreadable.filter((oid) => !view.unhandledCritical.includes(oid));
  if (unreadable.length > 0) {
    findings.push(
      finding(
        "error",
        "cert_unreadable_extension",
        path,
        `${certLabel(view)} has extensions that do not decode: ${unreadable.join(", ")}`,
      ),
    );
  }
  if (view.unhandledCritical.length > 0) {
    findings.push(
      finding(
        "error",
        "cert_unhandled_critical_extension",
        path,
        `${certLabel(view)} has critical extensions Palisade cannot process: ${view.unhandledCritical.join(", ")}; peers refuse it`,
      ),
    );
  }
  return findings;
}

function validityFindings(
  view: CertView,
  now: Date,
  path: string,
  level: FindingLevel,
): CertFinding[] {
  const name = certLabel(view);
  const end = view.notAfter;
  if (now > end) {
    return [finding(level, "cert_expired", path, `${name} expired at ${end.toISOString()}`)];
  }
  if (now < view.notBefore) {
    const start = view.notBefore.toISOString();
    return [finding(level, "cert_not_yet_valid", path, `${name} is not valid before ${start}`)];
  }
  const left = end.getTime() - now.getTime();
  if (left >= EXPIRY_WARNING_MS) return [];
  const when = `${end.toISOString()} (in ${Math.floor(left / 86_400_000)} day(s))`;
  return [finding("warning", "cert_expiring", path, `${name} expires at ${when}: renew it`)];
}

/** Subject and fingerprint, from the inspector's view (which reads an empty subject as ""). */
export function certLabel(cert: X509Certificate | CertView): string {
  const view = cert instanceof X509Certificate ? inspect(cert) : cert;
  return `"${view.subject.split("\n").join(", ")}" (sha256 ${view.fingerprint256.slice(0, 23)}…)`;
}

export function finding(
  level: FindingLevel,
  rule: string,
  path: string,
  message: string,
): CertFinding {
  return { level, rule, message, path };
}
