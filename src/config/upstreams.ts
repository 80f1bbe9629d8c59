/**
 * Upstreams compiled for the outbound path: each one's endpoints (a bare `url` is one
 * endpoint without a region), SNI and target rule. Built once per config generation.
 */
import type { Config, RouteCacheConfig } from "./schema.js";
import { compileTargetRule, type TargetRule } from "../tenancy/target.js";

/** One address of an upstream (its `url`, or one of its `endpoints`). */
export interface EndpointRuntime {
  /** `https://host:port` */
  origin: string;
  /** Path prefix from the URL, without a trailing slash ("" for none). */
  basePath: string;
  /** Host header sent upstream. */
  authority: string;
  tls: boolean;
  /** Undefined for a bare `url`: reachable only by tenants without `regions`. */
  region: string | undefined;
}

/**
 * An upstream. Its own origin, basePath, authority and tls are those of its first
 * endpoint; residency-aware callers choose among `endpoints` (tenancy/residency.ts).
 */
export interface UpstreamRuntime extends Omit<EndpointRuntime, "region"> {
  name: string;
  /** In config order; a bare `url` is one endpoint without a region. */
  endpoints: readonly EndpointRuntime[];
  /** Expected service in the upstream's SPIFFE id. */
  service: string;
  sni(tenant: string): string;
  target: TargetRule;
  cache: RouteCacheConfig;
}

/** A server-name pattern with `{tenant}`, `{service}` and `{trustDomain}` filled in. */
export function expandName(
  pattern: string,
  tenant: string,
  config: Config,
  service = config.service,
): string {
  return pattern
    .replaceAll("{tenant}", tenant)
    .replaceAll("{service}", service)
    .replaceAll("{trustDomain}", config.trustDomain);
}

/** Every `outbound.upstreams` entry, with its endpoints compiled in config order. */
export function compileUpstreams(config: Config): Map<string, UpstreamRuntime> {
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const [name, upstream] of Object.entries(config.outbound.upstreams)) {
    const endpoints = (upstream.endpoints ?? [{ url: upstream.url as string }]).map((e) =>
      compileEndpoint(e.url, "region" in e ? e.region : undefined),
    );
    const first = endpoints[0] as EndpointRuntime;
    const service = upstream.service ?? name;
    const sniPattern = upstream.sni ?? "{tenant}.{service}.{trustDomain}";
    upstreams.set(name, {
      name,
      origin: first.origin,
      basePath: first.basePath,
      authority: first.authority,
      tls: first.tls,
      endpoints,
      service,
      sni: (tenant) => expandName(sniPattern, tenant, config, service),
      target: compileTargetRule(upstream.target),
      cache: upstream.cache,
    });
  }
  return upstreams;
}

function compileEndpoint(raw: string, region: string | undefined): EndpointRuntime {
  const url = new URL(raw);
  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ""),
    authority: url.host,
    tls: url.protocol === "https:",
    region,
  };
}
