/**
 * Our own verdict on a peer's chain, independent of OpenSSL's `authorized` flag: the
 * TLS layer may be configured with several tenants' CAs, but a peer is tenant T only if
 * its chain verifies to T's CA alone and its SVID names T (DESIGN.md "Identity").
 */
import type { X509Certificate } from "node:crypto";
import { parseWorkloadId } from "../tenancy/spiffe.js";
import { basicConstraints, certExtensions, notAfter, notBefore, uriSans } from "./certs.js";
import { satisfiesNameConstraints } from "./name-constraints.js";

/** The `reason` label of `palisade_tls_handshake_failures_total`; public, keep stable. */
export const HANDSHAKE_FAILURE_REASONS = [
  "no_client_cert",
  "expired",
  "not_yet_valid",
  "unknown_ca",
  "wrong_trust_domain",
  /** Zero, several or malformed URI SANs. */
  "bad_san",
  /** A leaf with cA=TRUE. */
  "ca_leaf",
  /** The SAN's tenant is not the SNI tenant, or another tenant's CA signed it. */
  "tenant_mismatch",
  "revoked",
  "no_sni_match",
  /** A certificate whose fields cannot be read (e.g. a malformed validity date). */
  "bad_certificate",
  /** A CA in the path has name constraints (RFC 5280) the leaf's names do not meet. */
  "name_constraint_violation",
  /** A certificate in the path has a critical extension Palisade does not process. */
  "unhandled_critical_extension",
] as const;

export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

export type ChainResult = { ok: true } | { ok: false; reason: HandshakeFailureReason };
type PathResult =
  { ok: true; path: X509Certificate[] } | { ok: false; reason: HandshakeFailureReason };

/**
 * Extensions whose meaning is enforced here (or, for policies, cannot narrow what we accept:
 * no policy is required), so they may be critical. Any other critical extension on a
 * certificate of the path refuses it, as RFC 5280 §4.2 demands.
 */
const PROCESSED_EXTENSIONS = new Set([
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.15", // keyUsage
  "2.5.29.17", // subjectAltName
  "2.5.29.19", // basicConstraints
  "2.5.29.30", // nameConstraints
  "2.5.29.32", // certificatePolicies
  "2.5.29.35", // authorityKeyIdentifier
  "2.5.29.37", // extendedKeyUsage
]);

/** Certificates in a path, leaf and root included: at most three intermediates. */
export const MAX_PATH_LENGTH = 5;
/**
 * Real peers send one or two intermediates. The cap bounds the signature checks a peer
 * can make us do per handshake (per configured tenant, on the mismatch path).
 */
export const MAX_INTERMEDIATES = 8;

/**
 * Builds a path leaf → intermediates (any order, extras ignored) → one of `roots`, each
 * link proved by name/key-id match and signature, then checks every certificate in it:
 * validity at `now`, cA=TRUE (with keyCertSign) on issuers and their pathLen, cA unset
 * on the leaf, no critical extension left unprocessed, and every CA's name constraints on
 * the leaf's names. Never throws.
 */
export function verifyTenantChain(opts: {
  leaf: X509Certificate;
  intermediates: readonly X509Certificate[];
  roots: readonly X509Certificate[];
  now: Date;
}): ChainResult {
  const result = verifyPath(opts);
  return result.ok ? { ok: true } : result;
}

function verifyPath(opts: {
  leaf: X509Certificate;
  intermediates: readonly X509Certificate[];
  roots: readonly X509Certificate[];
  now: Date;
}): PathResult {
  try {
    const { leaf, now } = opts;
    if (isCaCert(leaf)) return { ok: false, reason: "ca_leaf" };
    if (opts.intermediates.length > MAX_INTERMEDIATES) return { ok: false, reason: "unknown_ca" };
    const path = buildPath(leaf, opts.intermediates, opts.roots, now);
    if (!path) return { ok: false, reason: "unknown_ca" };
    for (const cert of path) {
      if (now < notBefore(cert)) return { ok: false, reason: "not_yet_valid" };
      if (now > notAfter(cert)) return { ok: false, reason: "expired" };
    }
    for (let i = 1; i < path.length; i++) {
      if (!canIssue(path[i] as X509Certificate, i - 1)) return { ok: false, reason: "unknown_ca" };
    }
    if (path.some(hasUnprocessedCriticalExtension)) {
      return { ok: false, reason: "unhandled_critical_extension" };
    }
    if (!satisfiesNameConstraints(leaf, path.slice(1))) {
      return { ok: false, reason: "name_constraint_violation" };
    }
    return { ok: true, path };
  } catch {
    return { ok: false, reason: "unknown_ca" };
  }
}

function hasUnprocessedCriticalExtension(cert: X509Certificate): boolean {
  return certExtensions(cert).some((ext) => ext.critical && !PROCESSED_EXTENSIONS.has(ext.oid));
}

function isCaCert(cert: X509Certificate): boolean {
  return cert.ca || basicConstraints(cert)?.ca === true;
}

/** `below` = intermediates between this issuer and the leaf, bounded by its pathLen. */
function canIssue(issuer: X509Certificate, below: number): boolean {
  if (!issuer.ca) return false;
  const pathLen = basicConstraints(issuer)?.pathLen;
  return pathLen === undefined || below <= pathLen;
}

function buildPath(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
): X509Certificate[] | undefined {
  const path = [leaf];
  const unused = new Set(intermediates);
  let current = leaf;
  while (path.length < MAX_PATH_LENGTH) {
    // Roots first: a peer that also sends its root must still end at our copy of it.
    const root = pickIssuer(current, roots, now);
    if (root) return [...path, root];
    const next = pickIssuer(current, [...unused], now);
    if (!next) return undefined;
    unused.delete(next);
    path.push(next);
    current = next;
  }
  return undefined;
}

/** An issuer of `cert` among `candidates`, preferring one valid at `now` (CA rollover). */
function pickIssuer(
  cert: X509Certificate,
  candidates: readonly X509Certificate[],
  now: Date,
): X509Certificate | undefined {
  const issuers = candidates.filter((c) => cert.checkIssued(c) && cert.verify(c.publicKey));
  return issuers.find((c) => now >= notBefore(c) && now <= notAfter(c)) ?? issuers[0];
}

export type SvidResult =
  | { ok: true; tenant: string; service: string; spiffeId: string }
  | { ok: false; reason: "bad_san" | "wrong_trust_domain"; claimedTenant?: string };

/**
 * The leaf's identity: exactly one URI SAN, a Palisade workload id in `trustDomain`.
 * Only the SAN is read; whether to believe it is `verifyTenantChain`'s job.
 */
export function checkSvid(leaf: X509Certificate, trustDomain: string): SvidResult {
  let uris: string[];
  try {
    uris = uriSans(leaf);
  } catch {
    return { ok: false, reason: "bad_san" };
  }
  const [spiffeId] = uris;
  if (uris.length !== 1 || spiffeId === undefined) return { ok: false, reason: "bad_san" };
  const id = parseWorkloadId(spiffeId);
  if (!id) return { ok: false, reason: "bad_san" };
  if (id.trustDomain !== trustDomain) return { ok: false, reason: "wrong_trust_domain" };
  return { ok: true, tenant: id.tenant, service: id.service, spiffeId };
}

export interface TenantTrust {
  roots: readonly X509Certificate[];
  revoked: boolean;
}

export type PeerIdentityResult =
  | { ok: true; tenant: string; service: string; spiffeId: string }
  | {
      ok: false;
      reason: HandshakeFailureReason;
      /** The tenant the SAN names (in this trust domain). Unverified: for logs only. */
      claimedTenant?: string;
      /**
       * The configured tenant whose CA verified the whole chain, when one did: the only
       * tenant a refusal may be attributed to (anomalies, metric labels).
       */
      verifiedTenant?: string;
    };

/**
 * DESIGN.md "Identity": the SAN names the tenant, the chain must verify to that
 * tenant's CA (never to a union), and an SNI-chosen tenant must be a configured one
 * (`no_sni_match`) and the same one (`tenant_mismatch`).
 * A chain that fails for the named tenant but verifies to another configured tenant's
 * CA, or reaches the named tenant's CA only through another tenant's CA (a cross-signed
 * detour), is `tenant_mismatch`: one tenant's PKI claiming another tenant.
 * Attribution: a refusal carries `verifiedTenant` only when a configured tenant's CA
 * verified the chain; a forged SAN can never make a refusal count against its victim.
 */
export function resolvePeerIdentity(opts: {
  /** Leaf first, as presented. */
  chain: readonly X509Certificate[];
  trustDomain: string;
  tenants: ReadonlyMap<string, TenantTrust>;
  /** The tenant selected by SNI, when there was SNI. */
  expectedTenant?: string;
  now: Date;
}): PeerIdentityResult {
  const [leaf, ...intermediates] = opts.chain;
  if (!leaf) return { ok: false, reason: "no_client_cert" };
  // SNI named a tenant this sidecar does not serve: nothing the certificate says can help.
  if (opts.expectedTenant !== undefined && !opts.tenants.has(opts.expectedTenant)) {
    return { ok: false, reason: "no_sni_match" };
  }
  const svid = checkSvid(leaf, opts.trustDomain);
  if (!svid.ok) return { ok: false, reason: svid.reason };
  const claimedTenant = svid.tenant;
  const fail = (reason: HandshakeFailureReason, verifiedTenant?: string) => ({
    ok: false as const,
    reason,
    claimedTenant,
    ...(verifiedTenant === undefined ? {} : { verifiedTenant }),
  });
  const trust = opts.tenants.get(claimedTenant);
  const { now } = opts;
  const verified = trust
    ? verifyPath({ leaf, intermediates, roots: trust.roots, now })
    : ({ ok: false, reason: "unknown_ca" } as const);
  if (!verified.ok) {
    // Only a chain that reached no CA of the claimed tenant may belong to another tenant.
    if (verified.reason !== "unknown_ca") return fail(verified.reason);
    const issuer = findIssuingTenant(leaf, intermediates, opts.tenants, claimedTenant, now);
    return issuer === undefined ? fail("unknown_ca") : fail("tenant_mismatch", issuer);
  }
  const detour = otherTenantInPath(verified.path, opts.tenants, claimedTenant);
  if (detour !== undefined) return fail("tenant_mismatch", detour);
  // From here the chain is the claimed tenant's own: refusals are attributed to it.
  if (opts.expectedTenant !== undefined && opts.expectedTenant !== claimedTenant) {
    return fail("tenant_mismatch", claimedTenant);
  }
  // Checked after the chain so that `revoked` always means "really that tenant".
  if (!trust || trust.revoked) return fail("revoked", claimedTenant);
  return { ok: true, tenant: claimedTenant, service: svid.service, spiffeId: svid.spiffeId };
}

/**
 * Another configured tenant whose CA (same name and key as one of its roots) sits inside
 * `path`, below its end: that tenant's PKI minted the leaf, however the path continues.
 */
function otherTenantInPath(
  path: readonly X509Certificate[],
  tenants: ReadonlyMap<string, TenantTrust>,
  claimedTenant: string,
): string | undefined {
  const issuers = path.slice(1, -1);
  if (issuers.length === 0) return undefined;
  for (const [tenant, trust] of tenants) {
    if (tenant === claimedTenant) continue;
    const isRoot = (c: X509Certificate) =>
      trust.roots.some((r) => r.subject === c.subject && r.publicKey.equals(c.publicKey));
    if (issuers.some(isRoot)) return tenant;
  }
  return undefined;
}

function findIssuingTenant(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  tenants: ReadonlyMap<string, TenantTrust>,
  claimedTenant: string,
  now: Date,
): string | undefined {
  for (const [tenant, trust] of tenants) {
    if (tenant === claimedTenant) continue;
    if (verifyPath({ leaf, intermediates, roots: trust.roots, now }).ok) return tenant;
  }
  return undefined;
}
