/**
 * X.509 name constraints (RFC 5280 §4.2.1.10), read from DER and applied to a leaf's URI
 * and DNS SANs. A tenant CA may delegate a sub-CA bounded to one trust domain; without
 * this check the sub-CA could mint SVIDs for any trust domain and the tenant's CA would
 * vouch for them. What cannot be evaluated is refused, never skipped.
 */
import type { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { certExtension, children, fromDerStrict, parseSubjectAltName } from "./certs.js";

const NAME_CONSTRAINTS_OID = "2.5.29.30";
/** GeneralName tags (context-specific, implicit) that are evaluated here. */
const DNS_NAME = 2;
const URI = 6;

interface Subtree {
  /** GeneralName tag: 2 dNSName, 6 uniformResourceIdentifier, anything else unsupported. */
  tag: number;
  base: string;
  /** `minimum` other than 0 or any `maximum`: RFC 5280 forbids them; we cannot honour them. */
  bounded: boolean;
}

interface NameConstraints {
  permitted: Subtree[];
  excluded: Subtree[];
}

/**
 * True when the leaf's names satisfy the constraints of every CA in `issuers`: each URI
 * (by its host, for SPIFFE the trust domain) and DNS name lies in a permitted subtree of its
 * type, when that CA has any, and in no excluded one (excluded wins). A CA whose constraints
 * use other name types (directoryName, IP, email, …) or bounds fails closed. Throws on DER
 * it cannot walk.
 */
export function satisfiesNameConstraints(
  leaf: X509Certificate,
  issuers: readonly X509Certificate[],
): boolean {
  let names: { tag: number; value: string }[] | undefined;
  for (const issuer of issuers) {
    const constraints = readNameConstraints(issuer);
    if (!constraints) continue;
    names ??= leafNames(leaf);
    if (!withinConstraints(names, constraints)) return false;
  }
  return true;
}

function withinConstraints(
  names: readonly { tag: number; value: string }[],
  { permitted, excluded }: NameConstraints,
): boolean {
  const all = [...permitted, ...excluded];
  if (all.some((s) => s.bounded || (s.tag !== URI && s.tag !== DNS_NAME))) return false;
  return names.every((name) => {
    const host = name.tag === URI ? uriHost(name.value) : name.value;
    const ofType = (subtrees: Subtree[]) => subtrees.filter((s) => s.tag === name.tag);
    if (ofType(excluded).some((s) => host !== undefined && matches(name.tag, host, s.base))) {
      return false;
    }
    const allowed = ofType(permitted);
    return (
      allowed.length === 0 ||
      (host !== undefined && allowed.some((s) => matches(name.tag, host, s.base)))
    );
  });
}

/**
 * URI constraints name a host (`mesh.local`: that host only) or a domain (`.mesh.local`:
 * hosts below it, not the domain itself). DNS constraints cover the name and every name
 * below it; a leading period, as OpenSSL reads it, only the names below.
 */
function matches(tag: number, host: string, base: string): boolean {
  const h = host.toLowerCase();
  const b = base.toLowerCase();
  // An empty base is the whole name space: permitted, it allows all; excluded, it bars all.
  if (b === "") return true;
  if (b.startsWith(".")) return h.endsWith(b) && h.length > b.length;
  return h === b || (tag === DNS_NAME && h.endsWith(`.${b}`));
}

/** The host of a URI with an authority; `undefined` (matches no subtree) otherwise. */
function uriHost(uri: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]+)/i.exec(uri);
  return match?.[1];
}

function leafNames(leaf: X509Certificate): { tag: number; value: string }[] {
  const text = leaf.subjectAltName;
  if (text === undefined || text === "") return [];
  return parseSubjectAltName(text).flatMap((entry) =>
    entry.type === "URI"
      ? [{ tag: URI, value: entry.value }]
      : entry.type === "DNS"
        ? [{ tag: DNS_NAME, value: entry.value }]
        : [],
  );
}

const cache = new WeakMap<X509Certificate, NameConstraints | null>();

function readNameConstraints(cert: X509Certificate): NameConstraints | undefined {
  let found = cache.get(cert);
  if (found === undefined) {
    const ext = certExtension(cert, NAME_CONSTRAINTS_OID);
    found = ext ? parseNameConstraints(ext.der) : null;
    cache.set(cert, found);
  }
  return found ?? undefined;
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] OPTIONAL, excludedSubtrees [1] OPTIONAL } */
function parseNameConstraints(der: string): NameConstraints {
  const result: NameConstraints = { permitted: [], excluded: [] };
  for (const part of children(fromDerStrict(der))) {
    const subtrees = children(part).map(parseSubtree);
    if (part.type === 0) result.permitted.push(...subtrees);
    else if (part.type === 1) result.excluded.push(...subtrees);
    else throw new Error("unexpected nameConstraints structure");
  }
  return result;
}

/** GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] DEFAULT 0, maximum [1] OPTIONAL } */
function parseSubtree(node: forge.asn1.Asn1): Subtree {
  const [base, ...bounds] = children(node);
  if (!base) throw new Error("empty name constraint subtree");
  const bounded = bounds.some(
    (b) => b.type !== 0 || forge.asn1.derToInteger(b.value as string) !== 0,
  );
  const primitive = typeof base.value === "string";
  return { tag: base.type, base: primitive ? (base.value as string) : "", bounded };
}
