/**
 * Shared-CA lint, across tenants (the loader never looks across): a peer is tenant T only
 * if its chain verifies to T's CA (DESIGN.md "Identity"), so two tenants whose trust
 * overlaps are not isolated at all.
 */
import { createHash, type X509Certificate } from "node:crypto";
import { verifyTenantChain } from "../tls/verify-chain.js";
import { certLabel, isValidityFailure, type TenantCerts } from "./lint-certs.js";
import type { Finding } from "./lint.js";

/**
 * If two tenants' trust overlaps, whoever issues for one can issue for the other and per-tenant
 * trust means nothing: the same CA key in both bundles, one bundle holding the other's
 * certificate, one issuing key under both (a cross-signed intermediate), or one tenant's
 * certificate verifying against both bundles.
 */
export function lintSharedCas(tenants: TenantCerts[], now: Date): Finding[] {
  const findings: Finding[] = [];
  tenants.forEach((b, j) => {
    for (const a of tenants.slice(0, j)) {
      const why = sharedTrust(a, b, now) ?? sharedTrust(b, a, now);
      if (why === undefined) continue;
      findings.push({
        level: "error",
        rule: "shared_ca",
        message: `tenants ${a.tenant} and ${b.tenant} do not have separate CAs: ${why}; a certificate issued for one can pass as the other`,
        path: `tenants.${b.tenant}.ca`,
      });
    }
  });
  return findings;
}

/** Why `truster`'s trust also covers `other`'s issuer, if it does. */
function sharedTrust(other: TenantCerts, truster: TenantCerts, now: Date): string | undefined {
  const roots = truster.roots ?? [];
  const trusted = new Set(roots.map(keyId));
  const sameRoot = (other.roots ?? []).find((c) => trusted.has(keyId(c)));
  if (sameRoot) return `both trust ${certLabel(sameRoot)}`;
  const held = (other.chain ?? []).find((c) => trusted.has(keyId(c)));
  if (held)
    return `${truster.tenant}'s CA bundle holds ${other.tenant}'s certificate ${certLabel(held)}`;
  const [leaf, ...intermediates] = other.chain ?? [];
  if (leaf === undefined) return undefined;
  const issuing = new Set((truster.chain ?? []).slice(1).map(keyId));
  const sameIssuer = intermediates.find((c) => issuing.has(keyId(c)));
  if (sameIssuer) return `both chain through the key of ${certLabel(sameIssuer)}`;
  // Verifying only against `truster` is not enough: a certificate that the wrong CA
  // issued and that does not chain to its own tenant is cert_untrusted_chain, not sharing.
  const verifiesTo = (bundle: X509Certificate[] | undefined) => {
    if (bundle === undefined || bundle.length === 0) return false;
    const result = verifyTenantChain({ leaf, intermediates, roots: bundle, now });
    return result.ok || isValidityFailure(result);
  };
  if (verifiesTo(truster.roots) && verifiesTo(other.roots)) {
    return `${other.tenant}'s certificate verifies against both tenants' CA bundles`;
  }
  return undefined;
}

/** Same key, same CA: a CA re-issued under a new certificate still signs for both. */
const keyIds = new WeakMap<X509Certificate, string>();
function keyId(cert: X509Certificate): string {
  let id = keyIds.get(cert);
  if (id === undefined) {
    const spki = cert.publicKey.export({ type: "spki", format: "der" });
    id = createHash("sha256").update(spki).digest("hex");
    keyIds.set(cert, id);
  }
  return id;
}
