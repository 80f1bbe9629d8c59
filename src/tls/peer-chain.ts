/**
 * The certificate chain a TLS peer presented, leaf first, as `X509Certificate`s. Both the
 * inbound listener (client chains) and the outbound pools (upstream chains) read it here.
 *
 * Node 20 builds `issuerCertificate` links only for the first detailed
 * `getPeerCertificate(true)` call on a socket: reading `getPeerX509Certificate()` first
 * leaves the leaf without its issuers, and every intermediate-issued peer is refused.
 * So the detailed form is always read first, and only from it.
 */
import { X509Certificate } from "node:crypto";
import type { PeerCertificate, TLSSocket } from "node:tls";

/** How many issuer links are followed; the verifier caps intermediates lower still. */
const MAX_LINKS = 10;

/** The peer's chain on `socket`, leaf first; empty when it sent no certificate. */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  return chainOf(socket.getPeerCertificate(true));
}

/**
 * Leaf, then the issuers Node linked to it (the certificates the peer sent, and possibly a
 * root from the local trust store), each parsed once. Whether any of them is trusted is
 * decided by `verify-chain.ts`, never here.
 */
export function chainOf(detailed: PeerCertificate | undefined): X509Certificate[] {
  if (!detailed?.raw) return [];
  const chain = [new X509Certificate(detailed.raw)];
  const seen = new Set<string>([detailed.fingerprint256]);
  let cert: PeerCertificate = detailed;
  for (let link = 0; link < MAX_LINKS; link++) {
    const issuer = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    // A self-signed root links to itself: the walk ends there.
    if (!issuer?.raw || seen.has(issuer.fingerprint256)) break;
    seen.add(issuer.fingerprint256);
    chain.push(new X509Certificate(issuer.raw));
    cert = issuer;
  }
  return chain;
}
