/**
 * Inbound peer identity. Settled once per connection from the client's chain (parsed
 * once), and re-checked against the current generation on every request, so a revoked
 * tenant or a withdrawn CA stops at once, open keep-alive connections included. The
 * re-check is free while the generation is the same and the chain is still valid; it runs
 * the full verification again after a reload and once the chain's validity has run out.
 */
import type { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Generation } from "../config/generation.js";
import { inspect } from "./inspect.js";
import { peerChain } from "./peer-chain.js";
import { resolvePeerIdentity, type HandshakeFailureReason } from "./verify-chain.js";

export interface PeerIdentity {
  tenant: string;
  service: string;
  spiffeId: string;
}

export type PeerCheck =
  | { ok: true; identity: PeerIdentity }
  | {
      ok: false;
      reason: HandshakeFailureReason;
      /** The tenant the SAN names, unverified: for logs only, never for attribution. */
      claimedTenant?: string | undefined;
      /** The tenant whose CA verified the chain: the only one a refusal is attributed to. */
      verifiedTenant?: string | undefined;
    };

interface ConnectionState {
  chain: X509Certificate[];
  expectedTenant: string | undefined;
  generationId: number;
  /** Earliest expiry in the chain (ms): past it, the cached verdict is re-checked. */
  validUntil: number;
  check: PeerCheck;
}

const connections = new WeakMap<TLSSocket, ConnectionState>();

/** Verifies a new connection against `generation`; the result is kept for its requests. */
export function verifyConnection(socket: TLSSocket, generation: Generation, now: Date): PeerCheck {
  let chain: X509Certificate[];
  let validUntil: number;
  try {
    chain = peerChain(socket);
    validUntil = Math.min(...chain.map((c) => inspect(c).notAfter.getTime()));
  } catch {
    // A certificate OpenSSL parsed but the typed DER parser cannot read (`inspect.ts`):
    // refused, never allowed to throw out of a socket event handler.
    const refused: PeerCheck = { ok: false, reason: "bad_certificate" };
    connections.set(socket, {
      chain: [],
      expectedTenant: undefined,
      generationId: Number.MAX_SAFE_INTEGER,
      validUntil: Number.POSITIVE_INFINITY,
      check: refused,
    });
    return refused;
  }
  const servername = typeof socket.servername === "string" ? socket.servername : undefined;
  const expectedTenant =
    servername === undefined ? undefined : generation.serverNames.get(servername);
  const state: ConnectionState = {
    chain,
    expectedTenant,
    generationId: generation.id,
    validUntil,
    check: { ok: false, reason: "no_client_cert" },
  };
  state.check =
    servername !== undefined && expectedTenant === undefined
      ? { ok: false, reason: "no_sni_match" }
      : check(state, generation, now);
  connections.set(socket, state);
  return state.check;
}

/**
 * The connection's identity under `generation`, re-verified when the generation changed.
 * `now` may be epoch milliseconds: the request path then makes no Date unless it re-checks.
 */
export function currentIdentity(
  socket: TLSSocket,
  generation: Generation,
  now: Date | number,
): PeerCheck {
  const state = connections.get(socket);
  if (!state) return verifyConnection(socket, generation, new Date(now));
  if (!state.check.ok && state.check.reason === "bad_certificate") return state.check;
  const nowMs = typeof now === "number" ? now : now.getTime();
  if (state.generationId !== generation.id || nowMs > state.validUntil) {
    state.check = check(state, generation, new Date(nowMs));
    state.generationId = generation.id;
  }
  return state.check;
}

function check(state: ConnectionState, generation: Generation, now: Date): PeerCheck {
  if (state.chain.length === 0) return { ok: false, reason: "no_client_cert" };
  const result = resolvePeerIdentity({
    chain: state.chain,
    trustDomain: generation.config.trustDomain,
    tenants: generation.tenants,
    ...(state.expectedTenant === undefined ? {} : { expectedTenant: state.expectedTenant }),
    now,
  });
  if (!result.ok) {
    const { reason, claimedTenant, verifiedTenant } = result;
    return { ok: false, reason, claimedTenant, verifiedTenant };
  }
  return {
    ok: true,
    identity: { tenant: result.tenant, service: result.service, spiffeId: result.spiffeId },
  };
}
