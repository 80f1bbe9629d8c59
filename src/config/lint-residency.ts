/**
 * Residency lint: a tenant held to regions this sidecar cannot serve, or that can reach no
 * endpoint of an upstream, validates but fails every such request with
 * `residency_violation`. Warnings, not errors: a tenant may rightly have no business with
 * an upstream, and a sidecar may hold a tenant's certificate for another region's sake.
 */
import { allowedEndpoints, type RegionalEndpoint } from "../tenancy/residency.js";
import type { Finding } from "./lint.js";
import type { Config } from "./schema.js";

/** `region`: this sidecar's region as `run` would resolve it (config, else PALISADE_REGION). */
export function lintResidency(config: Config, region: string | undefined): Finding[] {
  const findings: Finding[] = [];
  const restricted = Object.entries(config.tenants).filter(
    (entry): entry is [string, Config["tenants"][string] & { regions: string[] }] =>
      entry[1].regions !== undefined && !entry[1].revoked,
  );
  if (restricted.length > 0 && region === undefined) {
    findings.push({
      level: "warning",
      rule: "residency_region_unknown",
      message: `tenants ${restricted.map(([t]) => t).join(", ")} are held to regions, but this sidecar has no region (set region or PALISADE_REGION): it serves none of them`,
      path: "region",
    });
  }
  for (const [tenant, t] of restricted) {
    findings.push(...uncoveredRegions(config, tenant, t.regions, region));
    for (const [name, upstream] of Object.entries(config.outbound.upstreams)) {
      const endpoints: RegionalEndpoint[] = upstream.endpoints ?? [{ region: undefined }];
      if (allowedEndpoints(t.regions, endpoints, region).length > 0) continue;
      findings.push({
        level: "warning",
        rule: "residency_no_endpoint",
        message: `tenant ${tenant} (regions ${t.regions.join(", ")}) can reach no endpoint of upstream ${name}: its calls to ${name} are refused (residency_violation)`,
        path: `outbound.upstreams.${name}.${upstream.endpoints ? "endpoints" : "url"}`,
      });
    }
  }
  return findings;
}

/** A tenant none of whose regions is this sidecar's or any endpoint's: it is served nowhere here. */
function uncoveredRegions(
  config: Config,
  tenant: string,
  regions: readonly string[],
  region: string | undefined,
): Finding[] {
  const covered = new Set<string>(region === undefined ? [] : [region]);
  for (const upstream of Object.values(config.outbound.upstreams))
    for (const e of upstream.endpoints ?? []) covered.add(e.region);
  if (regions.some((r) => covered.has(r))) return [];
  return [
    {
      level: "warning",
      rule: "residency_region_uncovered",
      message: `tenant ${tenant}'s regions (${regions.join(", ")}) are neither this sidecar's region (${region ?? "unset"}) nor any endpoint's: it is neither served here nor can it call out`,
      path: `tenants.${tenant}.regions`,
    },
  ];
}
