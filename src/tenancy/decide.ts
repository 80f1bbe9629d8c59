/**
 * The access decision, the same on both paths: a tenant reaches its own resources; it
 * reaches another tenant's only through an active grant matching method and path.
 * Default deny.
 */
import type { CompiledGrant, GrantTable } from "./grants.js";

export type Decision =
  { allow: true; grant: CompiledGrant | undefined } | { allow: false; code: "cross_tenant_denied" };

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
  const grant = grants.match({
    from: request.caller,
    to: request.target,
    method: request.method,
    segments: request.segments,
    now: request.now,
  });
  return grant ? { allow: true, grant } : DENIED;
}
