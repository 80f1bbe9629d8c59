/**
 * Outbound: the upstream the app named, by an absolute-form URI (as `HTTP_PROXY` clients
 * send) or else by the Host header, and with it the rule that reads the target tenant and
 * the route's cache settings.
 */
import type { Generation, UpstreamRuntime } from "../config/generation.js";
import { isAuthority } from "../http/authority.js";
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import type { RequestHeaders } from "../path/headers.js";

export function pickUpstream(ctx: RequestContext): void {
  const { upstream, pathWithQuery } = upstreamOf(ctx.generation, ctx.req.url ?? "", ctx.headers);
  ctx.upstream = upstream;
  ctx.record.upstream = upstream.name;
  ctx.targetRule = upstream.target;
  ctx.pathWithQuery = pathWithQuery;
  ctx.cacheRoute = upstream.cache;
}

/** The upstream named by an absolute-form URI, else by the Host header. */
export function upstreamOf(
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
