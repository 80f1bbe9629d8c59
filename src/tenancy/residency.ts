/**
 * Data residency (DESIGN.md "Contract additions", Residency): which upstream endpoints a
 * tenant's calls may reach, and whether this sidecar may serve a tenant at all. Pure
 * functions over compiled config; the request path asks, it never decides here.
 *
 * Regions are plain names compared exactly. A tenant without `regions` is unrestricted.
 * A tenant with `regions`:
 * - reaches only endpoints labelled with one of its regions; an endpoint without a region
 *   (an upstream written with `url`) proves nothing about where it runs, so it is reachable
 *   only by unrestricted tenants;
 * - is served only by a sidecar whose own region is one of them; a sidecar without a
 *   region (neither `region` nor PALISADE_REGION) cannot prove where it runs and serves
 *   no restricted tenant.
 *
 * A grant's `regions` widen where the *owner's* data may be served for that grant: the
 * grantee reads the owner's data through a sidecar in one of those regions even when the
 * owner's own `regions` exclude it. They never widen where the grantee's own calls go.
 */
import type { Config } from "../config/schema.js";

export type Regions = readonly string[] | undefined;

export interface RegionalEndpoint {
  /** Undefined for an upstream configured with a bare `url`. */
  readonly region: string | undefined;
}

/**
 * The endpoints a tenant with `tenantRegions` may call, in the order to try them: those in
 * this sidecar's region first (geo-aware: the nearest copy), then the rest in config order.
 * Failover walks this list and never leaves it. Empty: the call is a residency violation.
 */
export function allowedEndpoints<E extends RegionalEndpoint>(
  tenantRegions: Regions,
  endpoints: readonly E[],
  localRegion: string | undefined,
): E[] {
  const allowed =
    tenantRegions === undefined
      ? [...endpoints]
      : endpoints.filter((e) => e.region !== undefined && tenantRegions.includes(e.region));
  if (localRegion === undefined) return allowed;
  const local = allowed.filter((e) => e.region === localRegion);
  return [...local, ...allowed.filter((e) => e.region !== localRegion)];
}

/**
 * Whether data held under `tenantRegions` may be served by a sidecar in `localRegion`,
 * counting the regions a grant adds for its data.
 */
export function servesHere(
  tenantRegions: Regions,
  localRegion: string | undefined,
  grantRegions?: Regions,
): boolean {
  if (tenantRegions === undefined) return true;
  if (localRegion === undefined) return false;
  return tenantRegions.includes(localRegion) || (grantRegions?.includes(localRegion) ?? false);
}

export type InboundResidency =
  { ok: true } | { ok: false; code: "residency_violation"; tenant: string };

const SERVED: InboundResidency = { ok: true };

/**
 * The inbound check: the caller's request must be allowed to land in this region, and a
 * cross-tenant request may read the target's data here only where the target's regions,
 * or the grant that allows it, say so. `regionsOf` gives a configured tenant's regions.
 */
export function inboundResidency(request: {
  caller: string;
  target: string | undefined;
  grantRegions: Regions;
  localRegion: string | undefined;
  regionsOf: (tenant: string) => Regions;
}): InboundResidency {
  const { caller, target, localRegion } = request;
  if (!servesHere(request.regionsOf(caller), localRegion))
    return { ok: false, code: "residency_violation", tenant: caller };
  if (target === undefined || target === caller) return SERVED;
  if (!servesHere(request.regionsOf(target), localRegion, request.grantRegions))
    return { ok: false, code: "residency_violation", tenant: target };
  return SERVED;
}

/**
 * This sidecar's region: the config's `region`, else PALISADE_REGION. An environment
 * value that is not a region name is refused (undefined + problem), never trimmed.
 */
export function localRegion(
  config: Pick<Config, "region">,
  env: Readonly<Record<string, string | undefined>>,
  isRegion: (name: string) => boolean,
): { region: string | undefined; problem?: string } {
  if (config.region !== undefined) return { region: config.region };
  const fromEnv = env["PALISADE_REGION"];
  if (fromEnv === undefined || fromEnv === "") return { region: undefined };
  if (!isRegion(fromEnv))
    return { region: undefined, problem: "PALISADE_REGION is not a region name (a DNS label)" };
  return { region: fromEnv };
}
