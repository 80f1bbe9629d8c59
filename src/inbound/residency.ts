/**
 * Inbound residency (DESIGN.md "Contract additions", Residency): a caller tenant whose
 * regions exclude this sidecar's region is refused `residency_violation`, and so is a
 * cross-tenant read of data that may not be served here. It runs after `authorize`: the
 * grant that allowed a cross-tenant request may widen where its owner's data is served
 * (`grants[].regions`), so the decision must be known first.
 */
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import { inboundResidency } from "../tenancy/residency.js";

export function servedHere(ctx: RequestContext): void {
  const { generation } = ctx;
  // Unrestricted caller and target (no `regions`): served anywhere, whatever the grant.
  const { tenants } = generation;
  const target = ctx.route.target;
  if (
    tenants.get(ctx.tenant)?.regions === undefined &&
    (target === undefined || tenants.get(target)?.regions === undefined)
  )
    return;
  const verdict = inboundResidency({
    caller: ctx.tenant,
    target: ctx.route.target,
    grantRegions: ctx.grant?.regions,
    localRegion: generation.region,
    regionsOf: (tenant) => generation.tenants.get(tenant)?.regions,
  });
  if (verdict.ok) return;
  const here =
    generation.region === undefined ? "a sidecar without a region" : `region ${generation.region}`;
  // Not suspicious: a peer sending a tenant where it may not go is misrouted, not hostile.
  throw new ProxyError(
    verdict.code,
    `tenant ${verdict.tenant}'s data may not be served in ${here}`,
    false,
  );
}
