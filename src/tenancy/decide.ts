/**
 * The access decision, the same on both paths: a tenant reaches its own resources; it
 * reaches another tenant's only through an active grant matching method and path.
 * Default deny. Audit-mode grants never change the decision: the one that matched (if any)
 * is reported beside it, for the `would_allow` metric and audit line.
 */
import type { CompiledGrant, GrantRequest, GrantTable } from "./grants.js";

/** An audit-mode grant that would have allowed the request. */
export interface AuditMatch {
  readonly grant: CompiledGrant;
  readonly result: "would_allow";
}

export type Decision = (
  { allow: true; grant: CompiledGrant | undefined } | { allow: false; code: "cross_tenant_denied" }
) & { audit?: AuditMatch };

const SAME_TENANT: Decision = { allow: true, grant: undefined };
const DENIED: Decision = { allow: false, code: "cross_tenant_denied" };

export function decideAccess(
  grants: GrantTable,
  request: {
    caller: string;
    target: string | undefined;
    method: string;
    segments: readonly string[];
    now: number;
  },
): Decision {
  if (request.target === undefined || request.target === request.caller) return SAME_TENANT;
  const query: GrantRequest = {
    from: request.caller,
    to: request.target,
    method: request.method,
    segments: request.segments,
    now: request.now,
  };
  const grant = grants.match(query);
  const decision: Decision = grant ? { allow: true, grant } : DENIED;
  // Reported whatever the decision: a rollout watches both what an audit grant would open
  // and whether it still covers what an enforced grant allows today.
  const audit = grants.matchAudit(query);
  return audit ? { ...decision, audit: { grant: audit, result: "would_allow" } } : decision;
}
