/**
 * The configured tenants' CAs, indexed once per generation: by subject name, to find the
 * few CAs that could have issued a presented certificate without trying every tenant; and
 * by key, to recognise a tenant's CA key however a cross-certificate renames it.
 */
import type { X509Certificate } from "node:crypto";
import { spkiHash } from "./presented-chain.js";

export interface TenantTrust {
  roots: readonly X509Certificate[];
  revoked: boolean;
}

export interface TrustIndex {
  /** Tenants (config order) with a CA certificate of this subject name. */
  tenantsBySubject: ReadonlyMap<string, readonly string[]>;
  /** Tenants with a CA certificate of this key (SPKI hash). */
  tenantsByKey: ReadonlyMap<string, readonly string[]>;
  /**
   * Every configured CA certificate (SHA-256 fingerprint). Node appends the local trust
   * anchor to a peer's chain; it is configuration, not something the peer sent.
   */
  rootFingerprints: ReadonlySet<string>;
}

/** A generation's tenants map is immutable: its index is built on first use and kept. */
const indexes = new WeakMap<ReadonlyMap<string, TenantTrust>, TrustIndex>();

export function trustIndex(tenants: ReadonlyMap<string, TenantTrust>): TrustIndex {
  let index = indexes.get(tenants);
  if (index === undefined) {
    const tenantsBySubject = new Map<string, string[]>();
    const tenantsByKey = new Map<string, string[]>();
    const rootFingerprints = new Set<string>();
    for (const [tenant, trust] of tenants) {
      for (const root of trust.roots) {
        rootFingerprints.add(root.fingerprint256);
        addTo(tenantsBySubject, root.subject, tenant);
        addTo(tenantsByKey, spkiHash(root), tenant);
      }
    }
    index = { tenantsBySubject, tenantsByKey, rootFingerprints };
    indexes.set(tenants, index);
  }
  return index;
}

function addTo(map: Map<string, string[]>, key: string, tenant: string): void {
  const list = map.get(key);
  if (!list) map.set(key, [tenant]);
  else if (!list.includes(tenant)) list.push(tenant);
}
