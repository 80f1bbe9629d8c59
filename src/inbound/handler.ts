/**
 * The inbound path (DESIGN.md "The two paths"): a peer sidecar's request, over mTLS, to
 * the local app. Each step is one call; a refusal at any step answers before the app
 * sees anything.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Generation } from "../config/generation.js";
import { currentIdentity, type PeerIdentity } from "../tls/peer-identity.js";
import { isAuthority } from "../http/authority.js";
import { ProxyError } from "../path/errors.js";
import { Exchange } from "../path/exchange.js";
import { requestBody } from "../path/forward.js";
import {
  checkHeaderCount,
  HEADER_CALLER,
  HEADER_CONTEXT,
  HEADER_REQUEST_ID,
  HEADER_TENANT,
  readRequestHeaders,
  requestIdFrom,
  responseHeaders,
  type RequestHeaders,
} from "../path/headers.js";
import type { ProxyDeps } from "../path/deps.js";
import { resolveRoute } from "../path/route.js";
import { admitTenant, authorize } from "../path/admit.js";
import { fetchThroughCache } from "../path/cache.js";
import { isReserved, prepareForProjection, projectGrantedResponse } from "../path/respond.js";

export function inboundHandler(deps: ProxyDeps): RequestListener {
  return (req, res) => void handleInbound(deps, req, res);
}

async function handleInbound(
  deps: ProxyDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // A peer refused at the handshake: its socket is gone and the refusal already counted.
  if (req.socket.destroyed) return;
  const generation = deps.generation();
  const exchange = new Exchange("inbound", req, res, deps);
  try {
    const headers = readRequestHeaders(
      req.rawHeaders,
      generation.stripHeaders,
      generation.allowHeaders,
    );
    exchange.requestId = requestIdFrom(headers.requestId);
    const caller = callerIdentity(req, res, generation, deps.now());
    exchange.tenant = caller.tenant;
    exchange.callerId = caller.spiffeId;
    checkHeaderCount(headers.count, generation.config.inbound.limits.headersCount);
    admitTenant(deps, exchange, generation, caller.tenant);
    if (headers.hostCount !== 1)
      throw new ProxyError("bad_request", "exactly one Host header is required");
    if (!isAuthority(headers.host ?? ""))
      throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
    checkReservedHeaders(headers, caller, exchange);
    logStrippedRouting(deps, exchange, headers.routing);
    const route = resolveRoute(generation.inboundTarget, req.url ?? "", headers);
    const grant = authorize(exchange, generation, caller.tenant, route, deps.now());

    // Key order is irrelevant: forward.ts writes the stamped headers first on the wire.
    const forward = headers.forward;
    forward[HEADER_TENANT] = caller.tenant;
    forward[HEADER_CALLER] = caller.spiffeId;
    forward[HEADER_REQUEST_ID] = exchange.requestId;
    exchange.propagate(forward);
    if (grant?.fields) prepareForProjection(forward);
    const body = requestBody(req, generation.config.inbound.limits.requestBody);
    const upstream = await fetchThroughCache(
      exchange,
      {
        route: generation.config.inbound.cache,
        tenant: caller.tenant,
        target: route.target,
        granted: grant !== undefined,
        source: { direction: "inbound", appOrigin: generation.appOrigin },
        method: req.method ?? "GET",
        pathWithQuery: route.pathWithQuery,
        headers: forward,
      },
      () => {
        // Signed only when the app will see it: a cache hit needs no token.
        forward[HEADER_CONTEXT] = deps.tokens.issue({
          tenant: caller.tenant,
          caller: caller.spiffeId,
          requestId: exchange.requestId,
          expires: deps.now() + generation.config.context.ttl,
        });
        return exchange.callUpstream({
          dispatcher: deps.app,
          origin: generation.config.inbound.app,
          method: req.method ?? "GET",
          path: route.pathWithQuery,
          headers: forward,
          body,
          timeout: generation.config.inbound.timeouts.upstream,
        });
      },
    );
    const response = grant?.fields
      ? await projectGrantedResponse(upstream, {
          grant,
          method: req.method ?? "GET",
          limits: generation.config.projection,
          budget: deps.projectionBudget,
          client: res,
        })
      : { ...upstream, headers: responseHeaders(upstream.headers, isReserved) };
    await exchange.respond(response, response.headers);
  } catch (err) {
    exchange.refuse(err);
  }
}

/**
 * Step 1: the tenant proved by the connection's client certificate, re-checked against
 * the current generation. A connection whose tenant was revoked since it was opened is
 * refused and closed.
 */
function callerIdentity(
  req: IncomingMessage,
  res: ServerResponse,
  generation: Generation,
  now: number,
): PeerIdentity {
  const check = currentIdentity(req.socket as TLSSocket, generation, new Date(now));
  if (check.ok) return check.identity;
  res.shouldKeepAlive = false;
  throw new ProxyError("tenant_revoked", `peer identity no longer trusted (${check.reason})`);
}

/**
 * Step 2: reserved headers never reach the app from the network. A peer sidecar may assert
 * `x-palisade-tenant`, and it must match the certificate; anything else reserved is spoofing.
 */
function checkReservedHeaders(
  headers: RequestHeaders,
  caller: PeerIdentity,
  exchange: Exchange,
): void {
  const spoofed: string[] = [];
  for (const [name, values] of headers.reserved) {
    if (name === HEADER_TENANT) {
      if (values.length !== 1 || values[0] !== caller.tenant) {
        throw new ProxyError(
          "tenant_context_mismatch",
          "asserted tenant differs from the client certificate",
        );
      }
    } else {
      spoofed.push(name);
    }
  }
  if (spoofed.length > 0) exchange.spoofed(spoofed);
}

/** Routing headers are ordinary client noise, not spoofing: a debug line, bounded, and no event. */
function logStrippedRouting(deps: ProxyDeps, exchange: Exchange, names: readonly string[]): void {
  if (names.length === 0 || !deps.logs.access.isLevelEnabled("debug")) return;
  deps.logs.access.debug(
    { requestId: exchange.requestId, headers: names.slice(0, 8), headerCount: names.length },
    "routing headers from the network stripped",
  );
}
