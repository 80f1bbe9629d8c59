/**
 * The outbound path: the local app's call to another service, as its list of stages. The
 * app names the upstream (Host or absolute-form URI) and the tenant (its inbound request's
 * signed context). Palisade refuses the app's own confused-deputy mistakes before they
 * leave the pod, then originates mTLS with that tenant's certificate.
 */
import type { RequestListener } from "node:http";
import { admit } from "../path/admit.js";
import { authorize } from "../path/authorize.js";
import { throughCache } from "../path/cache.js";
import { RequestContext } from "../path/context.js";
import type { ProxyDeps } from "../path/deps.js";
import { takeBody } from "../path/forward.js";
import { atMostOneValidHost, limitHeaders, readHeaders } from "../path/request-head.js";
import { filterResponse, respond } from "../path/respond.js";
import { route } from "../path/route.js";
import { onlyWebSocket, tunnelTo } from "../path/tunnel.js";
import { upgradeResponse, type UpgradeListener } from "../path/tunnel-h1.js";
import type { EndpointRuntime, UpstreamRuntime } from "../config/generation.js";
import { runStages, type Stage } from "../path/run.js";
import { callTenant } from "./call-tenant.js";
import { pickEndpoints } from "./endpoints.js";
import { pickUpstream } from "./pick-upstream.js";
import { forwardToUpstream, stamp } from "./to-upstream.js";

/** The outbound stages, in order; each file's header says why it sits where it does. */
export const OUTBOUND: readonly Stage[] = [
  readHeaders, // one pass over the raw headers; the request id
  atMostOneValidHost, // no repeated Host; an RFC 3986 one if any
  pickUpstream, // the upstream named by the URI or Host; its target rule
  callTenant, // the tenant: signed context, or an allowed plain assertion
  limitHeaders, // more header fields than allowed: 431
  admit, // the tenant's rate limit and in-flight cap
  route, // canonical path and target tenant
  authorize, // the tenant's own resources, or an active grant
  pickEndpoints, // the upstream's endpoints in the tenant's regions, local first
  stamp, // Host, tenant, request id, traceparent; still within the field limit
  takeBody, // the request body, within its limit
  throughCache(forwardToUpstream), // the tenant's cache, or the peer over mTLS
  filterResponse, // no hop-by-hop or reserved headers back to the app
  respond, // stream the response to the app
];

/** A WebSocket upgrade from the app: the same stages, then the tunnel to the peer. */
export const OUTBOUND_UPGRADE: readonly Stage[] = [
  onlyWebSocket,
  ...OUTBOUND.slice(0, OUTBOUND.indexOf(stamp) + 1),
  tunnelTo((ctx) => {
    const upstream = ctx.upstream as UpstreamRuntime;
    // A tunnel is not retried elsewhere: the first endpoint in the tenant's regions.
    const endpoint = ctx.endpoints[0] as EndpointRuntime;
    ctx.headers.forward["host"] = endpoint.authority;
    return {
      dispatcher: ctx.deps.upstreamPool(ctx.generation, upstream, endpoint, ctx.tenant),
      origin: endpoint.origin,
      path: endpoint.basePath + ctx.route.pathWithQuery,
    };
  }),
];

export function outboundUpgradeHandler(deps: ProxyDeps): UpgradeListener {
  return (req, socket, head) => {
    if (socket.destroyed) return;
    const res = upgradeResponse(req, socket, head);
    void runStages(OUTBOUND_UPGRADE, new RequestContext("outbound", req, res, deps));
  };
}

export function outboundHandler(deps: ProxyDeps): RequestListener {
  return (req, res) => void runStages(OUTBOUND, new RequestContext("outbound", req, res, deps));
}
