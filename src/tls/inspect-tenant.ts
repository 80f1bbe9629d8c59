/**
 * One tenant's certificate material judged as a whole: every problem, each a finding with
 * a stable rule id. The loader (`tenant-material.ts`) refuses on the first error finding,
 * `palisade check` lists them all; both call this, so their sequences of checks are one.
 *
 * Rules (level, key path):
 * - `tenant_material_unreadable` (error, ca|cert|key): not PEM, not a certificate, no key.
 * - `cert_key_mismatch` (error, key): the key is not the leaf's.
 * - `cert_not_svid` / `cert_san_mismatch` (error, cert): not exactly one Palisade SPIFFE
 *   id; or one naming another trust domain, tenant or service.
 * - `cert_expired` / `cert_not_yet_valid` (error; warning for a stale CA beside a valid one),
 *   `cert_expiring` (warning): validity at `now`.
 * - `cert_leaf_is_ca` (error, cert): the leaf says cA=TRUE; peers refuse it (`ca_leaf`).
 * - `cert_not_a_ca` (error, ca): nothing in the CA bundle may issue certificates.
 * - `cert_unhandled_critical_extension`, `cert_unreadable_extension`, `cert_bad_key`
 *   (error): a certificate no verifier of Palisade's accepts.
 * - `cert_untrusted_chain` (error, cert): no path to the tenant's own CA, with the reason,
 *   unless a finding above already names why.
 * - `cert_key_usage` (cert): warning for one TLS role left out, error for both.
 */
import type { KeyObject, X509Certificate } from "node:crypto";
import { keyMatchesCert } from "./certs.js";
import {
  caBundleFindings,
  finding,
  servedChainFindings,
  type CertFinding,
} from "./cert-findings.js";
import { inspect } from "./inspect.js";
import { pathAllowsPurpose } from "./key-usage.js";
import {
  checkSvid,
  verifyTenantPath,
  type ChainResult,
  type HandshakeFailureReason,
  type PathResult,
} from "./verify-chain.js";

/** What could be read of one tenant's files; a part is absent when it could not be. */
export interface TenantCerts {
  tenant: string;
  roots: X509Certificate[] | undefined;
  /** Leaf first, then the cert file's intermediates. */
  chain: X509Certificate[] | undefined;
  key: KeyObject | undefined;
}

export interface TenantContext {
  trustDomain: string;
  service: string;
  now: Date;
  /** The config's file names, as findings quote them. */
  files: { ca: string; cert: string; key: string };
}

/** Chain failures a per-certificate finding already explains, by the rule that does. */
const EXPLAINED_BY: Partial<Record<HandshakeFailureReason, readonly string[]>> = {
  expired: ["cert_expired"],
  not_yet_valid: ["cert_not_yet_valid"],
  ca_leaf: ["cert_leaf_is_ca"],
  unknown_ca: ["cert_not_a_ca"],
  unhandled_critical_extension: ["cert_unhandled_critical_extension"],
  bad_certificate: ["cert_unreadable_extension"],
  bad_key: ["cert_bad_key"],
};

/** Every finding for one tenant's material, in a fixed order: key, identity, certificates, chain. */
export function inspectTenant(certs: TenantCerts, ctx: TenantContext): CertFinding[] {
  const at = (key: "ca" | "cert" | "key") => `tenants.${certs.tenant}.${key}`;
  const leaf = certs.chain?.[0];
  const findings: CertFinding[] = [];
  if (leaf !== undefined && certs.key !== undefined && !keyMatches(certs.key, leaf)) {
    findings.push(
      error(
        "cert_key_mismatch",
        at("key"),
        `${ctx.files.key} is not the private key of ${ctx.files.cert}: the TLS handshake would fail`,
      ),
    );
  }
  if (leaf !== undefined) findings.push(...svidFindings(certs.tenant, leaf, ctx, at("cert")));
  if (certs.chain) findings.push(...servedChainFindings(certs.chain, ctx.now, at("cert")));
  if (certs.roots) findings.push(...caBundleFindings(certs.roots, ctx.now, at("ca")));
  if (!certs.chain || !certs.roots) return findings;
  const verified = verifyTenantPath({
    leaf: certs.chain[0] as X509Certificate,
    intermediates: certs.chain.slice(1),
    roots: certs.roots,
    now: ctx.now,
  });
  findings.push(...chainFindings(verified, certs.tenant, ctx, findings));
  return findings;
}

/** The verdict on the path, unless an error above already says why it fails; key usage. */
function chainFindings(
  verified: PathResult,
  tenant: string,
  ctx: TenantContext,
  earlier: readonly CertFinding[],
): CertFinding[] {
  const path = `tenants.${tenant}.cert`;
  if (!verified.ok) {
    const explaining = EXPLAINED_BY[verified.reason] ?? [];
    if (earlier.some((f) => f.level === "error" && explaining.includes(f.rule))) return [];
    return [
      error(
        "cert_untrusted_chain",
        path,
        `${ctx.files.cert} does not chain to ${tenant}'s own CA in ${ctx.files.ca} (${verified.reason})`,
      ),
    ];
  }
  // The tenant's certificate is both the inbound server's and the outbound client's: a
  // peer refuses it (bad_key_usage) in the role its key usage leaves out.
  const missing = ROLES.filter(([purpose]) => !pathAllowsPurpose(verified.path, purpose));
  if (missing.length === ROLES.length) {
    return [
      error(
        "cert_key_usage",
        path,
        `${ctx.files.cert} allows neither TLS server nor client authentication (key usage or extended key usage): every peer refuses it as bad_key_usage`,
      ),
    ];
  }
  return missing.map(([, role]) =>
    finding(
      "warning",
      "cert_key_usage",
      path,
      `${ctx.files.cert} does not allow ${role} (key usage or extended key usage): peers refuse it there as bad_key_usage`,
    ),
  );
}

const ROLES = [
  ["server", "TLS server authentication (inbound)"],
  ["client", "TLS client authentication (outbound)"],
] as const;

function keyMatches(key: KeyObject, leaf: X509Certificate): boolean {
  try {
    return keyMatchesCert(key, leaf);
  } catch {
    return false;
  }
}

function svidFindings(
  tenant: string,
  leaf: X509Certificate,
  ctx: TenantContext,
  path: string,
): CertFinding[] {
  const { trustDomain, service } = ctx;
  const svid = checkSvid(leaf, trustDomain);
  if (!svid.ok && svid.reason === "bad_san") {
    return [
      error(
        "cert_not_svid",
        path,
        `not an SVID: needs exactly one URI SAN spiffe://${trustDomain}/tenant/${tenant}/sa/${service} (found ${describeUris(leaf)})`,
      ),
    ];
  }
  const mismatch = (message: string) => [error("cert_san_mismatch", path, message)];
  if (!svid.ok) return mismatch(`names ${describeUris(leaf)}, outside trust domain ${trustDomain}`);
  if (svid.tenant !== tenant) {
    return mismatch(
      `names tenant ${svid.tenant} (${svid.spiffeId}), not ${tenant}: peers would take this sidecar for ${svid.tenant}`,
    );
  }
  if (svid.service !== service) {
    return mismatch(`names service ${svid.service} (${svid.spiffeId}), not ${service}`);
  }
  return [];
}

export { certLabel, type CertFinding } from "./cert-findings.js";

export function isValidityFailure(result: ChainResult): boolean {
  return !result.ok && (result.reason === "expired" || result.reason === "not_yet_valid");
}

function describeUris(leaf: X509Certificate): string {
  const view = inspect(leaf);
  if (view.sanUnreadable) return "an unreadable subjectAltName";
  return view.uris.length === 0 ? "no URI SAN" : view.uris.join(", ");
}

function error(rule: string, path: string, message: string): CertFinding {
  return finding("error", rule, path, message);
}
