/**
 * DESIGN.md step 4, the same on both paths: the caller's own resources, or another
 * tenant's through an active grant matching method and path; otherwise
 * `cross_tenant_denied`. An audit-mode grant that matched is written to the record beside
 * the decision (policy rollout); it never changes it.
 */
import { decideAccess } from "../tenancy/decide.js";
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";

export function authorize(ctx: RequestContext): void {
  const { route, record } = ctx;
  record.path = route.path;
  record.target = route.target;
  const decision = decideAccess(ctx.generation.grants, {
    caller: ctx.tenant,
    target: route.target,
    method: ctx.req.method ?? "",
    segments: route.segments,
    now: ctx.deps.now(),
  });
  // Before a refusal: an audit-mode grant is reported whatever the decision.
  if (decision.audit)
    record.policyAudit = { grantId: decision.audit.grant.id, result: decision.audit.result };
  if (!decision.allow) throw new ProxyError(decision.code);
  record.decision = decision.grant ? "grant" : "allow";
  record.grantId = decision.grant?.id;
  ctx.grant = decision.grant;
}
