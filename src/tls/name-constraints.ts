/**
 * X.509 name constraints (RFC 5280 §4.2.1.10), read from DER and applied to a leaf's URI
 * and DNS SANs. A tenant CA may delegate a sub-CA bounded to one trust domain; without
 * this check the sub-CA could mint SVIDs for any trust domain and the tenant's CA would
 * vouch for them. What cannot be evaluated is refused, never skipped.
 */
import type { X509Certificate } from "node:crypto";
import { OID, type NameEntry, type Subtree } from "./der.js";
import { inspect, type CertView } from "./inspect.js";

type LeafName = { kind: "uri" | "dns"; value: string };

/**
 * True when the leaf's names satisfy the constraints of every CA in `issuers`: each URI
 * (by its host, for SPIFFE the trust domain) and DNS name lies in a permitted subtree of its
 * type, when that CA has any, and in no excluded one (excluded wins). A CA whose constraints
 * use other name types (directoryName, IP, email, …) or bounds fails closed, and so does a
 * nameConstraints extension that does not decode.
 */
export function satisfiesNameConstraints(
  leaf: X509Certificate,
  issuers: readonly X509Certificate[],
): boolean {
  const names = leafNames(inspect(leaf));
  return issuers.every((issuer) => withinConstraints(names, inspect(issuer)));
}

function withinConstraints(names: readonly LeafName[], issuer: CertView): boolean {
  if (issuer.unreadable.includes(OID.nameConstraints)) return false;
  if (!issuer.nameConstraints) return true;
  const { permitted, excluded } = issuer.nameConstraints;
  if ([...permitted, ...excluded].some((s) => s.bounded || !evaluated(s.base))) return false;
  return names.every((name) => {
    const host = name.kind === "uri" ? uriHost(name.value) : name.value;
    const ofKind = (subtrees: readonly Subtree[]) =>
      subtrees.flatMap((s) => (s.base.kind === name.kind ? [s.base.value] : []));
    if (ofKind(excluded).some((base) => host !== undefined && matches(name.kind, host, base))) {
      return false;
    }
    const allowed = ofKind(permitted);
    return (
      allowed.length === 0 ||
      (host !== undefined && allowed.some((base) => matches(name.kind, host, base)))
    );
  });
}

function evaluated(base: NameEntry): boolean {
  return base.kind === "uri" || base.kind === "dns";
}

/**
 * URI constraints name a host (`mesh.local`: that host only) or a domain (`.mesh.local`:
 * hosts below it, not the domain itself). DNS constraints cover the name and every name
 * below it; a leading period, as OpenSSL reads it, only the names below.
 */
function matches(kind: LeafName["kind"], host: string, base: string): boolean {
  const h = host.toLowerCase();
  const b = base.toLowerCase();
  // An empty base is the whole name space: permitted, it allows all; excluded, it bars all.
  if (b === "") return true;
  if (b.startsWith(".")) return h.endsWith(b) && h.length > b.length;
  return h === b || (kind === "dns" && h.endsWith(`.${b}`));
}

/** The host of a URI with an authority; `undefined` (matches no subtree) otherwise. */
function uriHost(uri: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]+)/i.exec(uri);
  return match?.[1];
}

function leafNames(leaf: CertView): LeafName[] {
  return [
    ...leaf.uris.map((value) => ({ kind: "uri" as const, value })),
    ...leaf.dnsNames.map((value) => ({ kind: "dns" as const, value })),
  ];
}
