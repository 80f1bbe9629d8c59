/**
 * One typed view of a certificate, parsed once from DER: what the loader, `palisade check`
 * and the per-handshake verifier all read, so they cannot disagree about what a certificate
 * says. `node:crypto` supplies what OpenSSL already parsed (names, key, fingerprint);
 * `der.ts` the extensions. Views are cached by DER fingerprint: a peer's chain arrives as
 * new objects on every connection, but the same bytes are parsed only once.
 */
import { createHash, type KeyObject, type X509Certificate } from "node:crypto";
import { LRUCache } from "lru-cache";
import { CertificateDer, KEY_USAGE, OID, type Decoded, type NameEntry } from "./der.js";
import { spkiDer } from "./spki.js";

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
  readonly spkiHash: string;
}

/**
 * Names, key and fingerprint from OpenSSL's parse; validity and extensions from DER, each
 * extension decoded on first use. A field of an extension that does not decode reads as
 * absent: callers that must fail closed ask `isUnreadable` or `unreadable` first.
 */
export class CertView {
  readonly subject: string;
  readonly issuer: string;
  readonly fingerprint256: string;
  readonly key: CertKey;
  readonly #der: CertificateDer;

  constructor(cert: X509Certificate) {
    this.#der = new CertificateDer(cert.raw);
    // Node leaves `subject` undefined for an empty name, as in cert-manager's URI-only SVIDs;
    // its types say string.
    const names: { readonly subject?: string; readonly issuer?: string } = cert;
    this.subject = names.subject ?? "";
    this.issuer = names.issuer ?? "";
    this.fingerprint256 = cert.fingerprint256;
    this.key = keyOf(cert.publicKey);
  }

  get version(): number {
    return this.#der.version;
  }
  get notBefore(): Date {
    return this.#der.notBefore;
  }
  get notAfter(): Date {
    return this.#der.notAfter;
  }
  /** Every extension as written. */
  get present(): readonly { oid: string; critical: boolean }[] {
    return this.#der.present;
  }
  get uris(): readonly string[] {
    return this.#names().flatMap((n) => (n.kind === "uri" ? [n.value] : []));
  }
  get dnsNames(): readonly string[] {
    return this.#names().flatMap((n) => (n.kind === "dns" ? [n.value] : []));
  }
  /** SAN entries of any other kind (IP, email, directory name, …). */
  get otherNames(): number {
    return this.#names().filter((n) => n.kind !== "uri" && n.kind !== "dns").length;
  }
  /** The SAN extension did not decode: no identity can be read from it. */
  get sanUnreadable(): boolean {
    return this.#der.isUnreadable(OID.subjectAltName);
  }
  get basicConstraints(): Decoded[typeof OID.basicConstraints] | undefined {
    return this.#der.get(OID.basicConstraints);
  }
  /** keyUsage bits (`KEY_USAGE`); absent: every use allowed. */
  get keyUsage(): number | undefined {
    return this.#der.get(OID.keyUsage);
  }
  get extKeyUsage(): readonly string[] | undefined {
    return this.#der.get(OID.extendedKeyUsage);
  }
  get nameConstraints(): Decoded[typeof OID.nameConstraints] | undefined {
    return this.#der.get(OID.nameConstraints);
  }
  get subjectKeyId(): string | undefined {
    return this.#der.get(OID.subjectKeyIdentifier);
  }
  get authorityKeyId(): string | undefined {
    return this.#der.get(OID.authorityKeyIdentifier);
  }
  /**
   * May issue certificates, as OpenSSL decides it: cA=TRUE and, when keyUsage is present,
   * keyCertSign; or a self-signed version 1 certificate (a legacy trust anchor).
   */
  get canIssue(): boolean {
    if (this.version === 1 && this.subject === this.issuer) return true;
    const usage = this.keyUsage;
    const signsCerts = usage === undefined || (usage & KEY_USAGE.keyCertSign) !== 0;
    return this.claimsCa && signsCerts && !this.#der.isUnreadable(OID.keyUsage);
  }
  /** cA=TRUE as written, keyCertSign or not (a leaf claiming to be a CA). */
  get claimsCa(): boolean {
    return this.basicConstraints?.ca === true;
  }
  /** Critical extensions that are neither processed here nor decodable. */
  get unhandledCritical(): readonly string[] {
    return this.present
      .filter((e) => e.critical && (!PROCESSED_EXTENSIONS.has(e.oid) || this.isUnreadable(e.oid)))
      .map((e) => e.oid);
  }
  /** Extensions Palisade reads that do not decode (or are repeated). Decodes them all. */
  get unreadable(): readonly string[] {
    return this.#der.unreadable();
  }
  isUnreadable(oid: string): boolean {
    return this.#der.isUnreadable(oid);
  }

  #names(): readonly NameEntry[] {
    return this.#der.get(OID.subjectAltName) ?? [];
  }
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
    view = new CertView(cert);
    byDer.set(fingerprint, view);
  }
  byObject.set(cert, view);
  return view;
}

/**
 * Drops `cert`'s view from the shared cache (the object's own link goes with the object):
 * for certificates parsed at load and then let go, whose views would otherwise stay until
 * a thousand peers' chains pushed them out.
 */
export function forgetView(cert: X509Certificate): void {
  const view = byObject.get(cert);
  if (view !== undefined && byDer.peek(view.fingerprint256) === view)
    byDer.delete(view.fingerprint256);
}

function keyOf(object: KeyObject): CertKey {
  const details = object.asymmetricKeyDetails ?? {};
  let spkiHash: string | undefined;
  return {
    object,
    type: object.asymmetricKeyType,
    modulusBits: details.modulusLength,
    publicExponent: details.publicExponent,
    curve: details.namedCurve,
    // Issuers and CAs are compared by key; a leaf's key never is: hashed on first use only.
    get spkiHash() {
      spkiHash ??= createHash("sha256").update(spkiDer(object)).digest("base64");
      return spkiHash;
    },
  };
}

/** Valid at `now`: inside [notBefore, notAfter]. */
export function validAt(view: CertView, now: Date): boolean {
  return now >= view.notBefore && now <= view.notAfter;
}
