/**
 * Reading PEM certificates with `node:crypto`. Everything here is strict: a bundle with a
 * stray private key, a truncated block, a DER file or a certificate the typed DER parser
 * cannot read (`inspect.ts`) is an error that says so.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readRsaPrivateKey } from "./rsa-key.js";
import { inspect } from "./inspect.js";

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
  try {
    inspect(cert);
  } catch (err) {
    throw new Error(`certificate ${n}: does not decode as X.509: ${(err as Error).message}`);
  }
  return cert;
}

/** A PEM private key, as the loader and `palisade check` both read it. */
export function readPrivateKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = (typeof pem === "string" ? readRsaPrivateKey(pem) : undefined) ?? createPrivateKey(pem);
  } catch (err) {
    throw new Error(`cannot read private key: ${(err as Error).message}`);
  }
  if (key.type !== "private") throw new Error("expected a private key");
  return key;
}

/** True when `key` is the private half of `cert`'s public key; throws on an unreadable key. */
export function keyMatchesCert(key: string | Buffer | KeyObject, cert: X509Certificate): boolean {
  const privateKey = typeof key === "string" || Buffer.isBuffer(key) ? readPrivateKey(key) : key;
  if (privateKey.type !== "private") throw new Error("expected a private key");
  return cert.checkPrivateKey(privateKey);
}
