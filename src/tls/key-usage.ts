/**
 * Whether a path may be used for a TLS role (RFC 5280 §4.2.1.3, §4.2.1.12): a client
 * leaf must be allowed `clientAuth`, an upstream's leaf `serverAuth`, both must be allowed
 * to sign (the TLS 1.2/1.3 CertificateVerify), and an intermediate that restricts its
 * extended key usage must allow the same purpose (OpenSSL's purpose inheritance).
 */
import type { X509Certificate } from "node:crypto";
import { KEY_USAGE } from "./der.js";
import { inspect, type CertView } from "./inspect.js";

export type Purpose = "client" | "server";

const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
const PURPOSE_OID: Record<Purpose, string> = {
  server: "1.3.6.1.5.5.7.3.1",
  client: "1.3.6.1.5.5.7.3.2",
};

/**
 * `path` is leaf first, the configured CA last (not checked: the operator's own trust).
 * Absent extensions allow everything, as RFC 5280 says.
 */
export function pathAllowsPurpose(path: readonly X509Certificate[], purpose: Purpose): boolean {
  const [leaf, ...issuers] = path.map(inspect);
  if (!leaf || !allowsPurpose(leaf, purpose) || !allowsSigning(leaf)) return false;
  return issuers.slice(0, -1).every((issuer) => allowsPurpose(issuer, purpose));
}

function allowsPurpose(view: CertView, purpose: Purpose): boolean {
  const oids = view.extKeyUsage;
  if (oids === undefined) return true;
  return oids.includes(PURPOSE_OID[purpose]) || oids.includes(ANY_EXTENDED_KEY_USAGE);
}

function allowsSigning(view: CertView): boolean {
  return view.keyUsage === undefined || (view.keyUsage & KEY_USAGE.digitalSignature) !== 0;
}
