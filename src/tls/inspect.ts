/**
 * One typed view of a certificate, parsed once from DER: what the loader, `palisade check`
 * and the per-handshake verifier all read, so they cannot disagree about what a certificate
 * says. `node:crypto` supplies what OpenSSL already parsed (names, key, fingerprint);
 * `der.ts` the extensions. Views are cached by DER fingerprint: a peer's chain arrives as
 * new objects on every connection, but the same bytes are parsed only once.
 */
import { createHash, type KeyObject, type X509Certificate } from "node:crypto";
import { LRUCache } from "lru-cache";
import { KEY_USAGE, OID, readCertificateDer, type DerFields } from "./der.js";

/**
 * Extensions whose meaning Palisade enforces (or, for policies, that cannot narrow what it
 * accepts: no policy is required), so they may be critical. Any other critical extension
 * refuses the certificate, as RFC 5280 §4.2 demands.
 */
const PROCESSED_EXTENSIONS: ReadonlySet<string> = new Set(Object.values(OID));

export interface CertKey {
  object: KeyObject;
  type: string | undefined;
  modulusBits?: number | undefined;
  publicExponent?: bigint | undefined;
  curve?: string | undefined;
  /** SHA-256 of the SubjectPublicKeyInfo (base64): a key's identity, whatever its name. */
  spkiHash: string;
}

export interface CertView extends Omit<DerFields, "subjectAltNames"> {
  subject: string;
  issuer: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  uris: readonly string[];
  dnsNames: readonly string[];
  /** SAN entries of any other kind (IP, email, directory name, …). */
  otherNames: number;
  /** Unreadable when the SAN extension did not decode: no identity can be read from it. */
  sanUnreadable: boolean;
  /**
   * May issue certificates, as OpenSSL decides it: cA=TRUE and, when keyUsage is present,
   * keyCertSign; or a self-signed version 1 certificate (a legacy trust anchor).
   */
  canIssue: boolean;
  /** cA=TRUE as written, keyCertSign or not (a leaf claiming to be a CA). */
  claimsCa: boolean;
  /** Critical extensions that are neither processed here nor decodable. */
  unhandledCritical: readonly string[];
  key: CertKey;
}

/** Real peers present a handful of certificates; a flood of distinct ones only evicts. */
const MAX_CACHED_VIEWS = 4096;
const byDer = new LRUCache<string, CertView>({ max: MAX_CACHED_VIEWS });
const byObject = new WeakMap<X509Certificate, CertView>();

/**
 * The view of `cert`. Throws when the certificate does not decode as X.509 (OpenSSL and the
 * typed parser disagree about it): callers treat that as an unreadable certificate.
 */
export function inspect(cert: X509Certificate): CertView {
  let view = byObject.get(cert);
  if (view !== undefined) return view;
  const fingerprint = cert.fingerprint256;
  view = byDer.get(fingerprint);
  if (view === undefined) {
    view = buildView(cert);
    byDer.set(fingerprint, view);
  }
  byObject.set(cert, view);
  return view;
}

function buildView(cert: X509Certificate): CertView {
  const ext = readCertificateDer(cert.raw);
  const { subjectAltNames = [], ...rest } = ext;
  const sanUnreadable = ext.unreadable.includes(OID.subjectAltName);
  const bc = ext.basicConstraints;
  const selfSignedV1 = ext.version === 1 && cert.subject === cert.issuer;
  const signsCerts = ext.keyUsage === undefined || (ext.keyUsage & KEY_USAGE.keyCertSign) !== 0;
  return {
    ...rest,
    subject: cert.subject,
    issuer: cert.issuer,
    fingerprint256: cert.fingerprint256,
    uris: subjectAltNames.flatMap((n) => (n.kind === "uri" ? [n.value] : [])),
    dnsNames: subjectAltNames.flatMap((n) => (n.kind === "dns" ? [n.value] : [])),
    otherNames: subjectAltNames.filter((n) => n.kind !== "uri" && n.kind !== "dns").length,
    sanUnreadable,
    canIssue: (bc?.ca === true && signsCerts) || selfSignedV1,
    claimsCa: bc?.ca === true,
    unhandledCritical: ext.present
      .filter((e) => e.critical && (!PROCESSED_EXTENSIONS.has(e.oid) || unreadable(ext, e.oid)))
      .map((e) => e.oid),
    key: keyOf(cert.publicKey),
  };
}

function unreadable(ext: DerFields, oid: string): boolean {
  return ext.unreadable.includes(oid);
}

function keyOf(object: KeyObject): CertKey {
  const details = object.asymmetricKeyDetails ?? {};
  const spki = object.export({ type: "spki", format: "der" });
  return {
    object,
    type: object.asymmetricKeyType,
    modulusBits: details.modulusLength,
    publicExponent: details.publicExponent,
    curve: details.namedCurve,
    spkiHash: createHash("sha256").update(spki).digest("base64"),
  };
}

/** Valid at `now`: inside [notBefore, notAfter]. */
export function validAt(view: CertView, now: Date): boolean {
  return now >= view.notBefore && now <= view.notAfter;
}
