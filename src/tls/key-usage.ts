/**
 * Whether a path may be used for a TLS role (RFC 5280 §4.2.1.3, §4.2.1.12): a client
 * leaf must be allowed `clientAuth`, an upstream's leaf `serverAuth`, both must be allowed
 * to sign (the TLS 1.2/1.3 CertificateVerify), and an intermediate that restricts its
 * extended key usage must allow the same purpose (OpenSSL's purpose inheritance).
 */
import type { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { certExtension, children, fromDerStrict } from "./certs.js";

export type Purpose = "client" | "server";

const KEY_USAGE_OID = "2.5.29.15";
const EXTENDED_KEY_USAGE_OID = "2.5.29.37";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
const PURPOSE_OID: Record<Purpose, string> = {
  server: "1.3.6.1.5.5.7.3.1",
  client: "1.3.6.1.5.5.7.3.2",
};
/** keyUsage bit 0, the first bit of the BIT STRING's first content byte. */
const DIGITAL_SIGNATURE = 0x80;

/**
 * `path` is leaf first, the configured CA last (not checked: the operator's own trust).
 * Absent extensions allow everything, as RFC 5280 says. Throws on DER it cannot walk.
 */
export function pathAllowsPurpose(path: readonly X509Certificate[], purpose: Purpose): boolean {
  const [leaf, ...issuers] = path;
  if (!leaf || !allowsPurpose(leaf, purpose) || !allowsSigning(leaf)) return false;
  return issuers.slice(0, -1).every((issuer) => allowsPurpose(issuer, purpose));
}

function allowsPurpose(cert: X509Certificate, purpose: Purpose): boolean {
  const ext = certExtension(cert, EXTENDED_KEY_USAGE_OID);
  if (!ext) return true;
  const oids = children(fromDerStrict(ext.der)).map((node) =>
    forge.asn1.derToOid(forge.util.createBuffer(node.value as string)),
  );
  return oids.includes(PURPOSE_OID[purpose]) || oids.includes(ANY_EXTENDED_KEY_USAGE);
}

function allowsSigning(cert: X509Certificate): boolean {
  const ext = certExtension(cert, KEY_USAGE_OID);
  if (!ext) return true;
  // The BIT STRING's value stays opaque: its unused-bits count, then the bits.
  const bits = fromDerStrict(ext.der).value as string;
  return bits.length > 1 && (bits.charCodeAt(1) & DIGITAL_SIGNATURE) !== 0;
}
