/**
 * A faster read of the common private key: RSA, unencrypted, in PKCS#8 (`BEGIN PRIVATE
 * KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`). OpenSSL 3 decodes a PEM key through its
 * decoder framework, which tries format after format: about 0.5 ms a key, half a second of
 * start-up per thousand tenants. The same key imported from its components (JWK) takes
 * about 40 µs. Anything else — another key type, an encrypted key, a second prime pair,
 * any byte out of place — returns undefined and is left to OpenSSL, whose errors are the
 * ones users see.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readTlv } from "./der-walk.js";

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
/** rsaEncryption (1.2.840.113549.1.1.1) with its NULL parameters, as PKCS#8 writes it. */
const RSA_ALGORITHM = Buffer.from("300d06092a864886f70d0101010500", "hex");
const COMPONENTS = ["n", "e", "d", "p", "q", "dp", "dq", "qi"] as const;

export function readRsaPrivateKey(pem: string): KeyObject | undefined {
  const pkcs8 = pemBody(pem, "PRIVATE KEY");
  const der = pkcs8 ? rsaFromPkcs8(pkcs8) : pemBody(pem, "RSA PRIVATE KEY");
  if (!der) return undefined;
  try {
    const jwk: Record<string, string> = { kty: "RSA" };
    const integers = sequenceOfIntegers(der);
    // RFC 8017 A.1.2: version 0 (two primes) and exactly eight components after it.
    if (integers.length !== 9 || integers[0]?.length !== 1 || integers[0][0] !== 0)
      return undefined;
    COMPONENTS.forEach((name, i) => (jwk[name] = unsigned(integers[i + 1] as Buffer)));
    return createPrivateKey({ key: jwk, format: "jwk" });
  } catch {
    return undefined;
  }
}

/** The DER of a PEM holding exactly one block of `label`, and nothing but whitespace around it. */
function pemBody(pem: string, label: string): Buffer | undefined {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const from = pem.indexOf(begin);
  const to = pem.indexOf(end);
  if (from === -1 || to < from || pem.indexOf("-----BEGIN", from + 1) !== -1) return undefined;
  if (pem.slice(0, from).trim() !== "" || pem.slice(to + end.length).trim() !== "")
    return undefined;
  const body = pem.slice(from + begin.length, to).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  return Buffer.from(body, "base64");
}

/** PKCS#8 PrivateKeyInfo (RFC 5208): version 0, rsaEncryption, the RSAPrivateKey octets. */
function rsaFromPkcs8(der: Buffer): Buffer | undefined {
  try {
    const info = readTlv(der, 0, der.length);
    if (info.tag !== SEQUENCE || info.end !== der.length) return undefined;
    const version = readTlv(der, info.start, info.end);
    if (version.tag !== INTEGER || version.end - version.start !== 1 || der[version.start] !== 0)
      return undefined;
    const algorithm = readTlv(der, version.end, info.end);
    if (!der.subarray(algorithm.offset, algorithm.end).equals(RSA_ALGORITHM)) return undefined;
    const key = readTlv(der, algorithm.end, info.end);
    // Attributes may follow ([0]); a public key ([1], PKCS#8 v2) needs version 1: refused above.
    if (key.tag !== OCTET_STRING) return undefined;
    return der.subarray(key.start, key.end);
  } catch {
    return undefined;
  }
}

function sequenceOfIntegers(der: Buffer): Buffer[] {
  const sequence = readTlv(der, 0, der.length);
  if (sequence.tag !== SEQUENCE || sequence.end !== der.length) throw new Error("not a sequence");
  const integers: Buffer[] = [];
  for (let offset = sequence.start; offset < sequence.end;) {
    const item = readTlv(der, offset, sequence.end);
    if (item.tag !== INTEGER || item.end === item.start) throw new Error("not an integer");
    // Negative integers have no place in an RSA key.
    if ((der[item.start] as number) & 0x80) throw new Error("negative integer");
    integers.push(der.subarray(item.start, item.end));
    offset = item.end;
  }
  return integers;
}

/** base64url of the unsigned big-endian value, without DER's sign byte. */
function unsigned(bytes: Buffer): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start).toString("base64url");
}
