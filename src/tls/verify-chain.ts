/**
 * Our own verdict on a peer's chain, independent of OpenSSL's `authorized` flag: the
 * TLS layer may be configured with several tenants' CAs, but a peer is tenant T only if
 * its chain verifies to T's CA alone and its SVID names T (DESIGN.md "Identity").
 */
import type { X509Certificate } from "node:crypto";
import { parseWorkloadId } from "../tenancy/spiffe.js";
import { inspect, validAt, type CertView } from "./inspect.js";
import { pathAllowsPurpose, type Purpose } from "./key-usage.js";
import { satisfiesNameConstraints } from "./name-constraints.js";
import { caIdentity, presentedChainProblem, spkiHash } from "./presented-chain.js";
import { trustIndex, type TenantTrust, type TrustIndex } from "./trust-index.js";

export { MAX_INTERMEDIATES } from "./presented-chain.js";
export type { TenantTrust } from "./trust-index.js";

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
  /** A certificate whose fields cannot be read (a malformed date or extension). */
  "bad_certificate",
  /** A CA in the path has name constraints (RFC 5280) the leaf's names do not meet. */
  "name_constraint_violation",
  /** A certificate in the path has a critical extension Palisade does not process. */
  "unhandled_critical_extension",
  /**
   * More than 8 intermediates, the same intermediate (name and key) twice, or more
   * signature checks than the chain's length allows.
   */
  "bad_chain",
  /** A certificate's key is not one Palisade verifies with (see `presented-chain.ts`). */
  "bad_key",
  /** The leaf may not be used for this TLS role (extended key usage, keyUsage). */
  "bad_key_usage",
] as const;

export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

export type ChainResult = { ok: true } | { ok: false; reason: HandshakeFailureReason };
export type PathResult =
  { ok: true; path: X509Certificate[] } | { ok: false; reason: HandshakeFailureReason };

/** Certificates in a path, leaf and root included: at most three intermediates. */
export const MAX_PATH_LENGTH = 5;
/**
 * Signature checks allowed per verification beyond one per presented certificate: room
 * for a CA rollover bundle (two roots of one name) without letting a peer buy more.
 */
export const SIGNATURE_CHECK_SLACK = 4;

/**
 * The signature checks one peer's chain may still cost. Shared by every path tried for
 * that chain (the claimed tenant's, then the few other tenants whose CA names match), so
 * the work per connection is bounded by what the peer sent, not by the tenants configured.
 */
export interface SignatureBudget {
  left: number;
  exhausted: boolean;
  /** Called before each check (tests count them). */
  onCheck?: (() => void) | undefined;
}

export function signatureBudget(presented: number, onCheck?: () => void): SignatureBudget {
  return { left: presented + SIGNATURE_CHECK_SLACK, exhausted: false, onCheck };
}

interface ChainOptions {
  leaf: X509Certificate;
  intermediates: readonly X509Certificate[];
  roots: readonly X509Certificate[];
  now: Date;
  /** The leaf's TLS role, checked against its (extended) key usage; none: not checked. */
  purpose?: Purpose | undefined;
  /** Called before each signature check. */
  onSignatureCheck?: (() => void) | undefined;
}

/**
 * Builds a path leaf → intermediates (any order, extras ignored) → one of `roots`, from
 * the roots down, each link proved by name/key-id match and signature, then checks every
 * certificate in it: validity at `now`, cA=TRUE (with keyCertSign) on issuers and their
 * pathLen, cA unset on the leaf, no critical extension left unprocessed, every CA's name
 * constraints on the leaf's names, and the leaf's key usage for `purpose`. Never throws.
 */
export function verifyTenantChain(opts: ChainOptions): ChainResult {
  const result = verifyTenantPath(opts);
  return result.ok ? { ok: true } : result;
}

/** `verifyTenantChain`, with the verified path (leaf first, the tenant's CA last). */
export function verifyTenantPath(opts: ChainOptions): PathResult {
  // A configured root in the chain (Node appends the trust anchor it found) is ours, not
  // the peer's: it is neither limited nor counted.
  const roots = new Set(opts.roots.map((r) => r.fingerprint256));
  const intermediates = opts.intermediates.filter((c) => !roots.has(c.fingerprint256));
  const problem = presentedChainProblem([opts.leaf, ...intermediates]);
  if (problem) return { ok: false, reason: problem };
  const budget = signatureBudget(1 + intermediates.length, opts.onSignatureCheck);
  return verifyPath({ ...opts, intermediates }, budget);
}

function verifyPath(opts: ChainOptions, budget: SignatureBudget): PathResult {
  try {
    const { leaf, now } = opts;
    // Only what decides the path is decoded before signatures are checked; every other
    // extension of the path's certificates is read (and must read) after.
    if (isCa(inspect(leaf))) return { ok: false, reason: "ca_leaf" };
    const path = buildPath(leaf, opts.intermediates, opts.roots, now, budget);
    if (!path) return { ok: false, reason: budget.exhausted ? "bad_chain" : "unknown_ca" };
    const views = path.map(inspect);
    const problem = pathProblem(views, now);
    if (problem) return { ok: false, reason: problem };
    if (!satisfiesNameConstraints(leaf, path.slice(1))) {
      return { ok: false, reason: "name_constraint_violation" };
    }
    if (opts.purpose && !pathAllowsPurpose(path, opts.purpose)) {
      return { ok: false, reason: "bad_key_usage" };
    }
    return { ok: true, path };
  } catch {
    // A certificate the typed parser cannot read at all (OpenSSL accepted it).
    return { ok: false, reason: "unknown_ca" };
  }
}

/** Extensions, validity and issuing rights of each certificate of a built path. */
function pathProblem(path: readonly CertView[], now: Date): HandshakeFailureReason | undefined {
  if (path.some((view) => view.unreadable.length > 0)) return "bad_certificate";
  for (const view of path) {
    if (now < view.notBefore) return "not_yet_valid";
    if (now > view.notAfter) return "expired";
  }
  for (let i = 1; i < path.length; i++) {
    if (!canIssue(path[i] as CertView, i - 1)) return "unknown_ca";
  }
  if (path.some((view) => view.unhandledCritical.length > 0)) {
    return "unhandled_critical_extension";
  }
  return undefined;
}

/** cA=TRUE as written, or a certificate OpenSSL takes for a CA. */
function isCa(view: CertView): boolean {
  return view.claimsCa || view.canIssue;
}

/** `below` = intermediates between this issuer and the leaf, bounded by its pathLen. */
function canIssue(issuer: CertView, below: number): boolean {
  if (!issuer.canIssue) return false;
  const pathLen = issuer.basicConstraints?.pathLen;
  return pathLen === undefined || below <= pathLen;
}

/**
 * The shortest path from `leaf` to one of `roots`, built from the trust side: a signature
 * is only ever checked with a root's key or with the key of an intermediate already proved
 * (by signature) to be issued from a root, never with a key only the peer vouches for. One
 * layer of intermediates per step; a copy of a root sent by the peer counts as that root.
 */
function buildPath(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
  budget: SignatureBudget,
): X509Certificate[] | undefined {
  const rootIds = new Set(roots.map(caIdentity));
  let pending = intermediates.filter((c) => !rootIds.has(caIdentity(c)));
  /** Each proved certificate and the one whose key proved it. */
  const provedBy = new Map<X509Certificate, X509Certificate>();
  let layer: readonly X509Certificate[] = roots;
  for (let length = 2; length <= MAX_PATH_LENGTH; length++) {
    const issuer = verifiedIssuer(leaf, layer, now, budget);
    if (issuer) return pathUp(leaf, issuer, provedBy);
    // Only a CA may issue: anything else is never used as a key to check the next layer.
    const next = pending.filter((cert) => {
      const named = layer.some((c) => cert.checkIssued(c));
      const by =
        named && isCa(inspect(cert)) ? verifiedIssuer(cert, layer, now, budget) : undefined;
      if (by) provedBy.set(cert, by);
      return by !== undefined;
    });
    if (next.length === 0) return undefined;
    pending = pending.filter((cert) => !provedBy.has(cert));
    layer = next;
  }
  return undefined;
}

function pathUp(
  leaf: X509Certificate,
  issuer: X509Certificate,
  provedBy: ReadonlyMap<X509Certificate, X509Certificate>,
): X509Certificate[] {
  const path = [leaf];
  for (let cert: X509Certificate | undefined = issuer; cert; cert = provedBy.get(cert)) {
    path.push(cert);
  }
  return path;
}

/**
 * An issuer of `cert` among `candidates` (already trusted) whose signature checks,
 * preferring one valid at `now` (CA rollover). Names and key ids are compared first, for
 * free; each signature check spends the budget.
 */
function verifiedIssuer(
  cert: X509Certificate,
  candidates: readonly X509Certificate[],
  now: Date,
  budget: SignatureBudget,
): X509Certificate | undefined {
  const named = candidates.filter((c) => cert.checkIssued(c));
  const valid = (c: X509Certificate) => validAt(inspect(c), now);
  for (const candidate of [...named.filter(valid), ...named.filter((c) => !valid(c))]) {
    if (budget.left <= 0) {
      budget.exhausted = true;
      return undefined;
    }
    budget.left--;
    budget.onCheck?.();
    if (cert.verify(inspect(candidate).key.object)) return candidate;
  }
  return undefined;
}

export type SvidResult =
  | { ok: true; tenant: string; service: string; spiffeId: string }
  | { ok: false; reason: "bad_san" | "wrong_trust_domain"; claimedTenant?: string };

/**
 * The leaf's identity: exactly one URI SAN, a Palisade workload id in `trustDomain`.
 * Only the SAN is read; whether to believe it is `verifyTenantChain`'s job.
 */
export function checkSvid(leaf: X509Certificate, trustDomain: string): SvidResult {
  let view: CertView;
  try {
    view = inspect(leaf);
  } catch {
    return { ok: false, reason: "bad_san" };
  }
  if (view.sanUnreadable) return { ok: false, reason: "bad_san" };
  const uris = view.uris;
  const [spiffeId] = uris;
  if (uris.length !== 1 || spiffeId === undefined) return { ok: false, reason: "bad_san" };
  const id = parseWorkloadId(spiffeId);
  if (!id) return { ok: false, reason: "bad_san" };
  if (id.trustDomain !== trustDomain) return { ok: false, reason: "wrong_trust_domain" };
  return { ok: true, tenant: id.tenant, service: id.service, spiffeId };
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
 * Work: the chain's shape and keys are checked before any signature, and every path tried
 * for it shares one signature budget (`signatureBudget`), whatever the number of tenants.
 */
export function resolvePeerIdentity(opts: {
  /** Leaf first, as presented. */
  chain: readonly X509Certificate[];
  trustDomain: string;
  tenants: ReadonlyMap<string, TenantTrust>;
  /** The tenant selected by SNI, when there was SNI. */
  expectedTenant?: string;
  now: Date;
  /** Called before each signature check. */
  onSignatureCheck?: () => void;
}): PeerIdentityResult {
  const [leaf] = opts.chain;
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
  const index = trustIndex(opts.tenants);
  // Configured roots (Node appends the trust anchor it found) are neither limited nor counted.
  const intermediates = opts.chain
    .slice(1)
    .filter((c) => !index.rootFingerprints.has(c.fingerprint256));
  const problem = presentedChainProblem([leaf, ...intermediates]);
  if (problem) return fail(problem);
  const trust = opts.tenants.get(claimedTenant);
  const budget = signatureBudget(1 + intermediates.length, opts.onSignatureCheck);
  const chain = { leaf, intermediates, now: opts.now, purpose: "client" as const };
  const verified = trust
    ? verifyPath({ ...chain, roots: trust.roots }, budget)
    : ({ ok: false, reason: "unknown_ca" } as const);
  if (!verified.ok) {
    // Only a chain that reached no CA of the claimed tenant may belong to another tenant.
    if (verified.reason !== "unknown_ca") return fail(verified.reason);
    const issuer = findIssuingTenant(chain, opts.tenants, index, claimedTenant, budget);
    return issuer === undefined ? fail("unknown_ca") : fail("tenant_mismatch", issuer);
  }
  const detour = otherTenantInPath(verified.path, index, claimedTenant);
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
 * Another configured tenant whose CA key (by SPKI, under whatever name a cross-certificate
 * gives it) sits inside `path`, below its end: that tenant's PKI minted the leaf, however
 * the path continues.
 */
function otherTenantInPath(
  path: readonly X509Certificate[],
  index: TrustIndex,
  claimedTenant: string,
): string | undefined {
  for (const issuer of path.slice(1, -1)) {
    const owners = index.tenantsByKey.get(spkiHash(issuer)) ?? [];
    const other = owners.find((tenant) => tenant !== claimedTenant);
    if (other !== undefined) return other;
  }
  return undefined;
}

/**
 * The other configured tenant whose CA verifies the chain, if any. Only tenants with a CA
 * named as the issuer of a presented certificate are tried (looked up in the index, never
 * by trying every tenant), all within the chain's one signature budget.
 */
function findIssuingTenant(
  chain: Omit<ChainOptions, "roots">,
  tenants: ReadonlyMap<string, TenantTrust>,
  index: TrustIndex,
  claimedTenant: string,
  budget: SignatureBudget,
): string | undefined {
  const candidates = new Set(
    [chain.leaf, ...chain.intermediates].flatMap((c) => index.tenantsBySubject.get(c.issuer) ?? []),
  );
  candidates.delete(claimedTenant);
  for (const tenant of candidates) {
    const trust = tenants.get(tenant) as TenantTrust;
    if (verifyPath({ ...chain, roots: trust.roots }, budget).ok) return tenant;
    if (budget.exhausted) return undefined;
  }
  return undefined;
}
