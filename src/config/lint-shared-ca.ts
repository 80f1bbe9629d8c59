/**
 * Shared-CA lint, across tenants (the loader never looks across): a peer is tenant T only
 * if its chain verifies to T's CA (DESIGN.md "Identity"), so two tenants whose trust
 * overlaps are not isolated at all.
 */
import type { X509Certificate } from "node:crypto";
import { spkiHash } from "../tls/presented-chain.js";
import { verifyTenantChain } from "../tls/verify-chain.js";
import { certLabel, isValidityFailure, type TenantCerts } from "../tls/inspect-tenant.js";
import type { Finding } from "./lint.js";

/**
 * If two tenants' trust overlaps, whoever issues for one can issue for the other and per-tenant
 * trust means nothing: the same CA key in both bundles, one bundle holding the other's
 * certificate, one issuing key under both (a cross-signed intermediate), or one tenant's
 * certificate verifying against both bundles.
 */
export function lintSharedCas(tenants: TenantCerts[], now: Date): Finding[] {
  const findings: Finding[] = [];
  const near = candidatePairs(tenants);
  tenants.forEach((b, j) => {
    for (const i of [...(near.get(j) ?? [])].sort((x, y) => x - y)) {
      const a = tenants[i] as TenantCerts;
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

/**
 * Pairs (index → lower indexes) whose trust can overlap at all, found through indexes, not
 * by trying every pair: this lint runs on every start and reload, and with a thousand
 * tenants half a million chain checks would take most of a minute. Every way `sharedTrust`
 * can answer needs one of: a key in both tenants' roots or chains, or a certificate of one
 * tenant's chain naming as issuer the subject of a root of the other (a chain is only ever
 * built through such a name match). Names are compared loosely (case and spaces ignored),
 * so the index can only add candidates, never hide one.
 */
function candidatePairs(tenants: TenantCerts[]): Map<number, Set<number>> {
  const index = new Map<string, number[]>();
  const add = (entry: string, i: number) => {
    const list = index.get(entry);
    if (list === undefined) index.set(entry, [i]);
    else if (list.at(-1) !== i) list.push(i);
  };
  tenants.forEach((t, i) => {
    for (const root of t.roots ?? []) {
      add(`key:${keyId(root)}`, i);
      add(`name:${looseName(root.subject)}`, i);
    }
    for (const cert of (t.chain ?? []).slice(1)) add(`key:${keyId(cert)}`, i);
  });
  const pairs = new Map<number, Set<number>>();
  const pair = (x: number, y: number) => {
    if (x === y) return;
    const [lo, hi] = x < y ? [x, y] : [y, x];
    let set = pairs.get(hi);
    if (set === undefined) pairs.set(hi, (set = new Set()));
    set.add(lo);
  };
  tenants.forEach((t, i) => {
    const mine = [...(t.roots ?? []), ...(t.chain ?? [])];
    for (const cert of mine) {
      for (const j of index.get(`key:${keyId(cert)}`) ?? []) pair(i, j);
      for (const j of index.get(`name:${looseName(cert.issuer)}`) ?? []) pair(i, j);
    }
  });
  return pairs;
}

function looseName(name: string): string {
  return name.toLowerCase().replace(/\s+/g, "");
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
function keyId(cert: X509Certificate): string {
  return spkiHash(cert);
}
