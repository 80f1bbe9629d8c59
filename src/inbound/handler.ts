/**
 * The inbound path (DESIGN.md "The two paths"): a peer sidecar's request, over mTLS, to
 * the local app, as its list of stages. A refusal at any stage answers before the app sees
 * anything; the record is reported once the response has completed (path/run.ts).
 */
import type { RequestListener } from "node:http";
import { admit } from "../path/admit.js";
import { authorize } from "../path/authorize.js";
import { throughCache } from "../path/cache.js";
import { RequestContext } from "../path/context.js";
import type { ProxyDeps } from "../path/deps.js";
import { takeBody } from "../path/forward.js";
import { limitHeaders, oneValidHost, readHeaders } from "../path/request-head.js";
import { respond } from "../path/respond.js";
import { route } from "../path/route.js";
import { onlyWebSocket, tunnelTo } from "../path/tunnel.js";
import { upgradeResponse, type UpgradeListener } from "../path/tunnel-h1.js";
import { extendedConnectResponse, type ExtendedConnectListener } from "../path/tunnel-h2.js";
import { runStages, type Stage } from "../path/run.js";
import { identify } from "./identify.js";
import { project } from "./project.js";
import { servedHere } from "./residency.js";
import { stripReserved } from "./strip-reserved.js";
import { forwardToApp, stamp, toApp } from "./to-app.js";

/** The inbound stages, in order; each file's header says why it sits where it does. */
export const INBOUND: readonly Stage[] = [
  toApp, // the app's target rule and cache settings
  readHeaders, // one pass over the raw headers; the request id
  identify, // the caller tenant, from the client certificate
  limitHeaders, // more header fields than allowed: 431
  admit, // the tenant's rate limit and in-flight cap
  oneValidHost, // exactly one RFC 3986 Host
  stripReserved, // an asserted tenant must match; spoofing is recorded
  route, // canonical path and target tenant
  authorize, // the caller's own tenant, or an active grant
  servedHere, // the tenants' regions (or the grant's) include this sidecar's
  stamp, // tenant, caller, request id, traceparent for the app
  takeBody, // the request body, within its limit
  throughCache(forwardToApp), // the tenant's cache, or the app with a signed context
  project, // the projection under a projecting grant; else headers filtered
  respond, // stream the response to the peer
];

/**
 * A WebSocket upgrade (HTTP/1.1, or RFC 8441 extended CONNECT over HTTP/2): the same
 * stages up to the decision and the stamped headers, then the tunnel to the app instead of
 * a forwarded request.
 */
export const INBOUND_UPGRADE: readonly Stage[] = [
  onlyWebSocket, // other upgrades (h2c smuggling) are refused before anything else
  ...INBOUND.slice(0, INBOUND.indexOf(stamp) + 1),
  tunnelTo((ctx) => ({
    dispatcher: ctx.deps.app,
    origin: ctx.generation.config.inbound.app,
    path: ctx.route.pathWithQuery,
  })),
];

export function inboundUpgradeHandler(deps: ProxyDeps): UpgradeListener {
  return (req, socket, head) => {
    if (socket.destroyed) return;
    const res = upgradeResponse(req, socket, head);
    void runStages(INBOUND_UPGRADE, new RequestContext("inbound", req, res, deps));
  };
}

/** An HTTP/2 stream's extended CONNECT: the same upgrade stages, carried on the stream. */
export function inboundExtendedConnectHandler(deps: ProxyDeps): ExtendedConnectListener {
  return (req, res) => {
    extendedConnectResponse(req, res);
    void runStages(INBOUND_UPGRADE, new RequestContext("inbound", req, res, deps));
  };
}

export function inboundHandler(deps: ProxyDeps): RequestListener {
  return (req, res) => {
    // A peer refused at the handshake: its socket is gone and the refusal already counted.
    if (req.socket.destroyed) return;
    void runStages(INBOUND, new RequestContext("inbound", req, res, deps));
  };
}
