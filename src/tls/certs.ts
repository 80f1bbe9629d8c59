/**
 * Reading and inspecting PEM certificates with `node:crypto`. Everything here is strict:
 * a bundle with a stray private key, a truncated block or a DER file is an error that
 * says so, and a subjectAltName that cannot be split unambiguously is refused.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import forge from "node-forge";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/\r\n\t ]*={0,2}[\r\n\t ]*$/;

/** Every certificate of a PEM bundle, in file order. Throws on anything else. */
export function readPemBundle(text: string): X509Certificate[] {
  if (text.charCodeAt(0) === 0x30) {
    throw new Error(
      "expected PEM but this looks like DER (convert with `openssl x509 -inform der`)",
    );
  }
  const certs: X509Certificate[] = [];
  let outside = "";
  let last = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    const [block, label, body, endLabel] = match as unknown as [string, string, string, string];
    outside += text.slice(last, match.index);
    last = match.index + block.length;
    const n = certs.length + 1;
    if (label !== endLabel)
      throw new Error(`PEM block ${n}: BEGIN ${label} ends with END ${endLabel}`);
    if (label !== "CERTIFICATE") {
      throw new Error(`PEM block ${n} is a ${label}; only CERTIFICATE blocks belong here`);
    }
    certs.push(parseCertificateBody(body, n));
  }
  outside += text.slice(last);
  // Text between blocks is tolerated (openssl writes "subject=" lines), but armour is
  // not: a BEGIN without its END is a truncated or mangled file.
  if (outside.includes("-----")) throw new Error("malformed PEM: unmatched BEGIN/END line");
  if (certs.length === 0) throw new Error("no PEM certificate found");
  return certs;
}

function parseCertificateBody(body: string, n: number): X509Certificate {
  if (!BASE64_BODY.test(body)) throw new Error(`certificate ${n}: PEM body is not base64`);
  const der = Buffer.from(body, "base64");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (err) {
    throw new Error(`certificate ${n}: ${(err as Error).message}`);
  }
  // OpenSSL stops at the end of the DER object; anything after it is garbage we refuse.
  if (!cert.raw.equals(der))
    throw new Error(`certificate ${n}: trailing data after the certificate`);
  return cert;
}

export interface SanEntry {
  /** As Node names it: `URI`, `DNS`, `IP Address`, `email`, `DirName`, `othername`… */
  type: string;
  value: string;
}

const SAN_TYPE = /^[A-Za-z][A-Za-z ]*$/;

/**
 * Splits Node's `subjectAltName` rendering: `TYPE:value` entries joined by ", ". Node
 * JSON-quotes a value containing `,`, `"`, `\`, `'` or control characters
 * (`URI:"a\u002cb"`; some versions put the type inside the quotes), so a quoted value is
 * decoded and an unquoted one can never contain a comma. Anything else throws.
 */
export function parseSubjectAltName(text: string): SanEntry[] {
  const entries: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    let entry: string;
    let type: string;
    let value: string;
    if (text[i] === '"') {
      [entry, i] = readQuoted(text, i);
      [type, value] = splitType(entry, text);
    } else {
      const colon = text.indexOf(":", i);
      if (colon === -1) throw ambiguous(text);
      type = text.slice(i, colon);
      i = colon + 1;
      if (text[i] === '"') {
        [value, i] = readQuoted(text, i);
      } else {
        const comma = text.indexOf(",", i);
        const end = comma === -1 ? text.length : comma;
        value = text.slice(i, end);
        i = end;
      }
    }
    if (!SAN_TYPE.test(type)) throw ambiguous(text);
    entries.push({ type, value });
    if (i === text.length) break;
    if (!text.startsWith(", ", i) || i + 2 === text.length) throw ambiguous(text);
    i += 2;
  }
  return entries;
}

function readQuoted(text: string, start: number): [string, number] {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  if (i >= text.length) throw ambiguous(text);
  try {
    return [JSON.parse(text.slice(start, i + 1)) as string, i + 1];
  } catch {
    throw ambiguous(text);
  }
}

function splitType(entry: string, text: string): [string, string] {
  const colon = entry.indexOf(":");
  if (colon === -1) throw ambiguous(text);
  return [entry.slice(0, colon), entry.slice(colon + 1)];
}

function ambiguous(text: string): Error {
  // The text is the peer's; quoted and cut short so it cannot flood or forge log lines.
  return new Error(
    `cannot parse subjectAltName unambiguously: ${JSON.stringify(text.slice(0, 200))}`,
  );
}

/** The certificate's URI SANs, decoded. Throws if the SAN list is ambiguous. */
export function uriSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (text === undefined || text === "") return [];
  return parseSubjectAltName(text)
    .filter((entry) => entry.type === "URI")
    .map((entry) => entry.value);
}

/** True when `key` is the private half of `cert`'s public key; throws on an unreadable key. */
export function keyMatchesCert(key: string | Buffer | KeyObject, cert: X509Certificate): boolean {
  let privateKey: KeyObject;
  try {
    privateKey = typeof key === "string" || Buffer.isBuffer(key) ? createPrivateKey(key) : key;
  } catch (err) {
    throw new Error(`cannot read private key: ${(err as Error).message}`);
  }
  if (privateKey.type !== "private") throw new Error("expected a private key");
  return cert.checkPrivateKey(privateKey);
}

/** `validFrom` as a Date (Node 20 has no `validFromDate`). */
export function notBefore(cert: X509Certificate): Date {
  return parseCertDate(cert.validFrom);
}

export function notAfter(cert: X509Certificate): Date {
  return parseCertDate(cert.validTo);
}

function parseCertDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`unreadable certificate date: ${text}`);
  return date;
}

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

/** One X.509 v3 extension as written: its OID, criticality and the DER of its value. */
export interface CertExtension {
  oid: string;
  critical: boolean;
  /** The extnValue's contents (DER), as forge's binary string. */
  der: string;
}

const BASIC_CONSTRAINTS_OID = "2.5.29.19";
const extensionsCache = new WeakMap<X509Certificate, readonly CertExtension[]>();

/**
 * Every extension of `cert`, read from DER once per certificate object (Node exposes no
 * criticality and no unknown extension). Throws on DER it cannot walk.
 */
export function certExtensions(cert: X509Certificate): readonly CertExtension[] {
  let found = extensionsCache.get(cert);
  if (found === undefined) {
    found = readExtensions(cert.raw);
    extensionsCache.set(cert, found);
  }
  return found;
}

function readExtensions(der: Buffer): CertExtension[] {
  const { asn1 } = forge;
  const tbs = children(fromDerStrict(der.toString("binary")))[0];
  // Extensions are the tbsCertificate's explicit [3], always its last element.
  const explicit = children(tbs).find(
    (n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3,
  );
  if (!explicit) return [];
  return children(children(explicit)[0]).map((ext) => {
    const parts = children(ext);
    const [oid, flag] = parts;
    const octets = parts[parts.length - 1];
    if (!oid || !octets || parts.length > 3) throw new Error("unexpected extension structure");
    return {
      oid: asn1.derToOid(forge.util.createBuffer(oid.value as string)),
      critical: parts.length === 3 && flag?.type === asn1.Type.BOOLEAN && flag.value !== "\x00",
      der: octets.value as string,
    };
  });
}

/** The extension `oid` of `cert`, undefined when absent. Throws on DER it cannot walk. */
export function certExtension(cert: X509Certificate, oid: string): CertExtension | undefined {
  return certExtensions(cert).find((e) => e.oid === oid);
}

/**
 * The basicConstraints extension read from DER, `undefined` when absent. Node's `ca`
 * also demands keyCertSign, so a leaf with cA=TRUE but no keyCertSign reads `ca: false`
 * there; this is the flag as written. Throws on DER it cannot walk.
 */
export function basicConstraints(cert: X509Certificate): BasicConstraints | undefined {
  const ext = certExtension(cert, BASIC_CONSTRAINTS_OID);
  if (!ext) return undefined;
  const { asn1 } = forge;
  let ca = false;
  let pathLen: number | undefined;
  for (const field of children(fromDerStrict(ext.der))) {
    if (field.type === asn1.Type.BOOLEAN) ca = (field.value as string) !== "\x00";
    if (field.type === asn1.Type.INTEGER) pathLen = asn1.derToInteger(field.value as string);
  }
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

/** forge's typings lack the options object; bit strings stay opaque, trailing bytes fail. */
const fromDer = forge.asn1.fromDer as unknown as (
  bytes: string,
  options: { strict: boolean; parseAllBytes: boolean; decodeBitStrings: boolean },
) => forge.asn1.Asn1;

export function fromDerStrict(bytes: string): forge.asn1.Asn1 {
  return fromDer(bytes, { strict: true, parseAllBytes: true, decodeBitStrings: false });
}

export function children(node: forge.asn1.Asn1 | undefined): forge.asn1.Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new Error("unexpected certificate structure");
  return node.value;
}

export interface CertDescription {
  subject: string;
  issuer: string;
  serialNumber: string;
  /** Node's rendering, kept as is so a log shows exactly what was presented. */
  subjectAltName: string;
  /** `undefined` when the SAN list is ambiguous. */
  uris: string[] | undefined;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
  ca: boolean;
}

/** A log- and lint-friendly summary; never throws on a parsed certificate. */
export function describeCert(cert: X509Certificate): CertDescription {
  let uris: string[] | undefined;
  try {
    uris = uriSans(cert);
  } catch {
    uris = undefined;
  }
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    subjectAltName: cert.subjectAltName ?? "",
    uris,
    notBefore: notBefore(cert),
    notAfter: notAfter(cert),
    fingerprint256: cert.fingerprint256,
    ca: cert.ca,
  };
}
