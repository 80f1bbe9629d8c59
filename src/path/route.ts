/**
 * Step 3 of both paths: the request's canonical path and its target tenant. A path that
 * is not canonical (dot segments, encoded separators, `//`) could name one tenant to
 * Palisade and another to the app, so it is refused, never repaired.
 */
import { canonicalPath } from "../tenancy/request-path.js";
import type { TargetRule } from "../tenancy/target.js";
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";
import { valuesByDashedName, type RequestHeaders } from "./headers.js";

export interface Route {
  /** Canonical path without the query: what logs, grants and caches see. */
  path: string;
  /** Path and query as forwarded. */
  pathWithQuery: string;
  segments: readonly string[];
  target: string | undefined;
}

/** The stage: the target rule and request target set by toApp (inbound) or pickUpstream. */
export function route(ctx: RequestContext): void {
  ctx.route = resolveRoute(ctx.targetRule, ctx.pathWithQuery, ctx.headers);
  // A request that named a target was routed by the rule: its pattern, not the path with
  // its ids, names the span.
  if (ctx.route.target !== undefined) ctx.record.route = ctx.targetRule.pathPattern;
}

export function resolveRoute(
  rule: TargetRule,
  pathWithQuery: string,
  headers: RequestHeaders,
): Route {
  const canonical = canonicalPath(pathWithQuery);
  if (!canonical.ok) {
    const code =
      rule.usesPath && canonical.reason !== "not_origin_form" ? "ambiguous_target" : "bad_request";
    throw new ProxyError(code, `request path refused (${canonical.reason.replaceAll("_", " ")})`);
  }
  const result = rule.resolve({
    segments: canonical.segments,
    host: headers.host,
    // Every spelling an app may read as the target header is one source: `x_target_tenant`
    // next to `x-target-tenant` is a repeated source, not a second header Palisade ignores.
    header: rule.header === undefined ? undefined : valuesByDashedName(headers, rule.header),
  });
  if (!result.ok)
    throw new ProxyError("ambiguous_target", `target tenant is ${describe(result.reason)}`);
  return {
    path: canonical.path,
    pathWithQuery,
    segments: canonical.segments,
    target: result.target,
  };
}

function describe(reason: "disagree" | "repeated" | "invalid"): string {
  switch (reason) {
    case "disagree":
      return "named differently by two sources";
    case "repeated":
      return "named more than once";
    case "invalid":
      return "not a valid tenant id";
  }
}
