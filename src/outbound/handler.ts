/**
 * The outbound path: the local app's call to another service. The app names the upstream
 * (Host or absolute-form URI, as `HTTP_PROXY` clients send) and the tenant (its inbound
 * request's signed context). Palisade refuses the app's own confused-deputy mistakes before
 * they leave the pod, then originates mTLS with that tenant's certificate.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Generation, UpstreamRuntime } from "../config/generation.js";
import { isTenantId } from "../tenancy/tenant-id.js";
import { isAuthority } from "../http/authority.js";
import { ProxyError } from "../path/errors.js";
import { Exchange } from "../path/exchange.js";
import { requestBody } from "../path/forward.js";
import {
  checkHeaderCount,
  fieldCount,
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
import { isReserved } from "../path/respond.js";

const NO_ALIASES: ReadonlySet<string> = new Set();

export function outboundHandler(deps: ProxyDeps): RequestListener {
  return (req, res) => void handleOutbound(deps, req, res);
}

async function handleOutbound(
  deps: ProxyDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const generation = deps.generation();
  const exchange = new Exchange("outbound", req, res, deps);
  try {
    const headers = readRequestHeaders(req.rawHeaders, NO_ALIASES);
    exchange.requestId = requestIdFrom(headers.requestId);
    if (headers.hostCount > 1) throw new ProxyError("bad_request", "more than one Host header");
    if (headers.host !== undefined && !isAuthority(headers.host))
      throw new ProxyError("bad_request", "Host is not an RFC 3986 host[:port]");
    const { upstream, pathWithQuery } = pickUpstream(generation, req.url ?? "", headers);
    exchange.upstream = upstream.name;
    const tenant = callTenant(headers, generation, deps, exchange);
    exchange.tenant = tenant;
    const maxHeaders = generation.config.outbound.limits.headersCount;
    checkHeaderCount(headers.count, maxHeaders);
    admitTenant(deps, exchange, generation, tenant);
    const route = resolveRoute(upstream.target, pathWithQuery, headers);
    const grant = authorize(exchange, generation, tenant, route, deps.now());

    const forward = headers.forward;
    forward["host"] = upstream.authority;
    forward[HEADER_TENANT] = tenant;
    forward[HEADER_REQUEST_ID] = exchange.requestId;
    exchange.propagate(forward);
    // With Palisade's own fields added the call must still fit the peer's inbound limit.
    checkHeaderCount(fieldCount(forward), maxHeaders);
    const body = requestBody(req, generation.config.outbound.limits.requestBody);
    const response = await fetchThroughCache(
      exchange,
      {
        route: upstream.cache,
        tenant,
        target: route.target,
        granted: grant !== undefined,
        source: { direction: "outbound", upstream },
        method: req.method ?? "GET",
        pathWithQuery: route.pathWithQuery,
        headers: forward,
      },
      () =>
        exchange.callUpstream({
          dispatcher: deps.upstreamPool(generation, upstream, tenant),
          origin: upstream.origin,
          method: req.method ?? "GET",
          path: upstream.basePath + route.pathWithQuery,
          headers: forward,
          body,
          timeout: generation.config.outbound.timeouts.upstream,
        }),
    );
    const out = responseHeaders(response.headers, isReserved);
    await exchange.respond(response, out);
  } catch (err) {
    exchange.refuse(err);
  }
}

/** The upstream named by an absolute-form URI, else by the Host header. */
function pickUpstream(
  generation: Generation,
  url: string,
  headers: RequestHeaders,
): { upstream: UpstreamRuntime; pathWithQuery: string } {
  let authority = headers.host;
  let pathWithQuery = url;
  if (!url.startsWith("/")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ProxyError("bad_request", "request target is neither a path nor an absolute URI");
    }
    if (parsed.protocol !== "http:")
      throw new ProxyError("bad_request", "only http:// absolute URIs are proxied");
    authority = parsed.host;
    // The raw path, not `parsed.pathname`: URL resolves dot segments, and a path that needs
    // resolving must be refused by the route check, not silently repaired.
    const rest = url.slice("http://".length);
    const start = rest.search(/[/?]/);
    // The raw authority, as for Host: userinfo (`http://a@b/`) or backslashes that the URL
    // parser quietly reads some way are refused, not guessed at.
    if (!/^http:\/\//i.test(url) || !isAuthority(start === -1 ? rest : rest.slice(0, start)))
      throw new ProxyError("bad_request", "absolute URI authority is not an RFC 3986 host[:port]");
    pathWithQuery =
      start === -1 ? "/" : rest[start] === "?" ? `/${rest.slice(start)}` : rest.slice(start);
  }
  if (authority === undefined) throw new ProxyError("bad_request", "no Host header");
  const name = hostname(authority).toLowerCase();
  const upstream = generation.upstreams.get(name);
  if (!upstream)
    throw new ProxyError(
      "unknown_upstream",
      `no upstream named ${JSON.stringify(name.slice(0, 64))}`,
    );
  return { upstream, pathWithQuery };
}

function hostname(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(0, authority.indexOf("]") + 1);
  const colon = authority.indexOf(":");
  return colon === -1 ? authority : authority.slice(0, colon);
}

/**
 * The tenant the call is made for: the signed context from the app's inbound request
 * (preferred: it binds the call to a verified tenant), or, where allowed, a plain
 * `x-palisade-tenant` naming a tenant this sidecar holds a certificate for.
 */
function callTenant(
  headers: RequestHeaders,
  generation: Generation,
  deps: ProxyDeps,
  exchange: Exchange,
): string {
  const tokens = headers.reserved.get(HEADER_CONTEXT);
  const asserted = headers.reserved.get(HEADER_TENANT);
  // Other reserved headers from the app (`x-palisade-caller` copied from its inbound
  // request by header propagation) are dropped: the app is inside the pod, not a spoofer.
  if (asserted !== undefined && asserted.length !== 1) {
    throw new ProxyError("tenant_context_invalid", "x-palisade-tenant appears more than once");
  }
  let tenant: string;
  if (tokens !== undefined) {
    if (tokens.length !== 1)
      throw new ProxyError("tenant_context_invalid", "x-palisade-context appears more than once");
    const verified = deps.tokens.verify(tokens[0] as string, deps.now());
    if (!verified.ok) {
      // An expired token is an app holding a context too long, not an attack.
      const suspicious = verified.reason !== "expired";
      throw new ProxyError(
        "tenant_context_invalid",
        `tenant context ${verified.reason}`,
        suspicious,
      );
    }
    tenant = verified.context.tenant;
    exchange.tenant = tenant;
    if (asserted !== undefined && asserted[0] !== tenant)
      throw new ProxyError("tenant_context_mismatch");
    if (headers.requestId === undefined) exchange.requestId = verified.context.requestId;
  } else if (asserted !== undefined) {
    if (!generation.config.outbound.allowUnsignedTenant) {
      throw new ProxyError("tenant_context_missing", "a signed x-palisade-context is required");
    }
    tenant = asserted[0] as string;
    if (!isTenantId(tenant) || !generation.tenants.has(tenant)) {
      throw new ProxyError("tenant_context_invalid", "no such tenant");
    }
  } else {
    throw new ProxyError("tenant_context_missing");
  }
  if (!generation.active.has(tenant)) throw new ProxyError("tenant_revoked");
  return tenant;
}
