/**
 * Outbound residency (DESIGN.md "Contract additions", Residency): of the upstream's
 * endpoints, only those in the calling tenant's regions, this sidecar's own region first.
 * None → `residency_violation` before anything leaves the pod. It runs after `authorize`,
 * so the app's confused-deputy mistakes are still named as such.
 */
import type { UpstreamRuntime } from "../config/generation.js";
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import { allowedEndpoints } from "../tenancy/residency.js";

export function pickEndpoints(ctx: RequestContext): void {
  const { generation, tenant } = ctx;
  const upstream = ctx.upstream as UpstreamRuntime;
  const regions = generation.tenants.get(tenant)?.regions;
  // Without regions on either side every endpoint is allowed, in config order: no new list.
  const endpoints =
    regions === undefined && generation.region === undefined
      ? upstream.endpoints
      : allowedEndpoints(regions, upstream.endpoints, generation.region);
  if (endpoints.length === 0) {
    // Not suspicious: the tenant's own app calling where its data may not go is a
    // misconfiguration to fix, not an attack to alert on.
    throw new ProxyError(
      "residency_violation",
      `no endpoint of upstream ${upstream.name} is in tenant ${tenant}'s regions (${(regions ?? []).join(", ")})`,
      false,
    );
  }
  ctx.endpoints = endpoints;
}
