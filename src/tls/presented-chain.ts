/**
 * What a peer's chain must look like before Palisade spends a single signature check on it.
 * A stranger chooses every byte of the chain, so the work it can cause is bounded here:
 * how many certificates, which keys (an RSA key with a huge public exponent costs ~5 ms per
 * check, all of it on the event loop), and no repeated intermediates to multiply the checks.
 */
import type { X509Certificate } from "node:crypto";
import { inspect, type CertKey } from "./inspect.js";

/**
 * Real peers send one or two intermediates. The cap bounds what the path builder looks at;
 * the signature budget (`verify-chain.ts`) bounds what it verifies.
 */
export const MAX_INTERMEDIATES = 8;

/** RSA moduli above this cost more to verify than any real PKI needs. */
const MAX_RSA_MODULUS_BITS = 8192;
/** 65537 and 3 in practice; anything up to 2^32 keeps a verification cheap. */
const MAX_RSA_EXPONENT = 2n ** 32n;
/** Named curves only (P-256, P-384): explicit or exotic curve parameters are refused. */
const EC_CURVES = new Set(["prime256v1", "secp384r1"]);
/** Fixed-cost signature schemes. */
const EDWARDS = new Set(["ed25519", "ed448"]);

export type PresentedChainProblem =
  /** Too many certificates, or the same intermediate (name and key) more than once. */
  | "bad_chain"
  /** A certificate carries a key Palisade will not verify with. */
  | "bad_key"
  /** A certificate OpenSSL accepted whose fields do not decode (a malformed date). */
  | "bad_certificate";

/** The first problem of a chain as presented (leaf first), before any signature check. */
export function presentedChainProblem(
  chain: readonly X509Certificate[],
): PresentedChainProblem | undefined {
  if (chain.length > MAX_INTERMEDIATES + 1) return "bad_chain";
  if (!chain.every(decodes)) return "bad_certificate";
  if (!chain.every(hasAcceptableKey)) return "bad_key";
  const seen = new Set<string>();
  for (const cert of chain.slice(1)) {
    const id = caIdentity(cert);
    if (seen.has(id)) return "bad_chain";
    seen.add(id);
  }
  return undefined;
}

function decodes(cert: X509Certificate): boolean {
  try {
    inspect(cert);
    return true;
  } catch {
    return false;
  }
}

/** A certificate whose key's signature verification costs a bounded, ordinary amount of work. */
export function hasAcceptableKey(cert: X509Certificate): boolean {
  return acceptableKey(inspect(cert).key);
}

export function acceptableKey(key: CertKey): boolean {
  switch (key.type) {
    case "rsa":
    case "rsa-pss":
      return (
        key.modulusBits !== undefined &&
        key.modulusBits <= MAX_RSA_MODULUS_BITS &&
        key.publicExponent !== undefined &&
        key.publicExponent <= MAX_RSA_EXPONENT
      );
    case "ec":
      return key.curve !== undefined && EC_CURVES.has(key.curve);
    default:
      return key.type !== undefined && EDWARDS.has(key.type);
  }
}

/** A certificate as path building tells CAs apart: its name and its key. */
export function caIdentity(cert: X509Certificate): string {
  return `${cert.subject}\0${spkiHash(cert)}`;
}

/** SHA-256 of the certificate's SubjectPublicKeyInfo: a key's identity, whatever its name. */
export function spkiHash(cert: X509Certificate): string {
  return inspect(cert).key.spkiHash;
}
