/**
 * A public key's SubjectPublicKeyInfo DER, as `KeyObject.export({ type: "spki" })` writes
 * it, built from the key's JWK for the common types. OpenSSL 3's encoder takes ~0.3 ms a
 * key and a config load hashes every CA's key (a thousand tenants: a third of a second);
 * the JWK is read straight from the key. Byte-for-byte the same as OpenSSL's output (the
 * tests compare them): RSA with NULL parameters, EC points uncompressed, Ed25519/Ed448 raw.
 * Any other type is exported by OpenSSL.
 */
import type { KeyObject } from "node:crypto";

const RSA_ALGORITHM = Buffer.from("300d06092a864886f70d0101010500", "hex");
const EC_PUBLIC_KEY_OID = Buffer.from("06072a8648ce3d0201", "hex");
/** Curve OID and coordinate size in bytes (a point is written at full width). */
const CURVES: Readonly<Record<string, { oid: Buffer; size: number }>> = {
  "P-256": { oid: Buffer.from("06082a8648ce3d030107", "hex"), size: 32 },
  "P-384": { oid: Buffer.from("06052b81040022", "hex"), size: 48 },
  "P-521": { oid: Buffer.from("06052b81040023", "hex"), size: 66 },
};
const EDWARDS_ALGORITHMS: Readonly<Record<string, Buffer>> = {
  Ed25519: Buffer.from("300506032b6570", "hex"),
  Ed448: Buffer.from("300506032b6571", "hex"),
};

export function spkiDer(key: KeyObject): Buffer {
  return fromJwk(key) ?? key.export({ type: "spki", format: "der" });
}

function fromJwk(key: KeyObject): Buffer | undefined {
  const type = key.asymmetricKeyType;
  if (type !== "rsa" && type !== "ec" && type !== "ed25519" && type !== "ed448") return undefined;
  const jwk = key.export({ format: "jwk" });
  const bytes = (field: string | undefined) => Buffer.from(field ?? "", "base64url");
  if (jwk.kty === "RSA") {
    const rsaKey = tlv(0x30, [integer(bytes(jwk.n)), integer(bytes(jwk.e))]);
    return tlv(0x30, [RSA_ALGORITHM, bitString(rsaKey)]);
  }
  if (jwk.kty === "EC") {
    const curve = CURVES[jwk.crv ?? ""];
    if (curve === undefined) return undefined;
    const [x, y] = [padded(bytes(jwk.x), curve.size), padded(bytes(jwk.y), curve.size)];
    const point = Buffer.concat([Buffer.of(0x04), x, y]);
    return tlv(0x30, [tlv(0x30, [EC_PUBLIC_KEY_OID, curve.oid]), bitString(point)]);
  }
  const algorithm = jwk.kty === "OKP" ? EDWARDS_ALGORITHMS[jwk.crv ?? ""] : undefined;
  if (algorithm === undefined) return undefined;
  return tlv(0x30, [algorithm, bitString(bytes(jwk.x))]);
}

/** A DER INTEGER of an unsigned big-endian magnitude: minimal, positive. */
function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const sign = (trimmed[0] ?? 0) & 0x80 ? Buffer.of(0) : Buffer.alloc(0);
  return tlv(0x02, [sign, trimmed]);
}

function padded(value: Buffer, size: number): Buffer {
  return value.length >= size ? value : Buffer.concat([Buffer.alloc(size - value.length), value]);
}

function bitString(content: Buffer): Buffer {
  return tlv(0x03, [Buffer.of(0), content]);
}

function tlv(tag: number, parts: readonly Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.of(tag), length(body.length), body]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}
