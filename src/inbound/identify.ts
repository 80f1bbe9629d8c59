/**
 * Inbound step 1: the tenant proved by the connection's client certificate, re-checked
 * against the request's generation. A connection whose tenant was revoked since it was
 * opened is refused `tenant_revoked` and closed after the answer. Over HTTP/2 this runs
 * for every stream: a session outliving its tenant's revocation serves nothing more.
 */
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import { currentIdentity } from "../tls/peer-identity.js";
import { closeConnectionAfter, connectionOf } from "../proxy/h2-connection.js";

export function identify(ctx: RequestContext): void {
  const socket = connectionOf(ctx.req);
  // Epoch ms, not a Date: on a steady generation the re-check is two comparisons.
  const check = currentIdentity(socket, ctx.generation, ctx.deps.now());
  if (!check.ok) {
    closeConnectionAfter(ctx.res);
    throw new ProxyError("tenant_revoked", `peer identity no longer trusted (${check.reason})`);
  }
  ctx.tenant = check.identity.tenant;
  ctx.record.tenant = check.identity.tenant;
  ctx.record.callerId = check.identity.spiffeId;
  ctx.record.peerService = check.identity.service;
}
