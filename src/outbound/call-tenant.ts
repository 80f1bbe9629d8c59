/**
 * Outbound: the tenant the call is made for. The signed context from the app's inbound
 * request is preferred (it binds the call to a verified tenant); where
 * `outbound.allowUnsignedTenant` is on, a plain `x-palisade-tenant` may name a tenant this
 * sidecar holds a certificate for.
 */
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import { HEADER_CONTEXT, HEADER_TENANT } from "../path/headers.js";
import { isTenantId } from "../tenancy/tenant-id.js";

export function callTenant(ctx: RequestContext): void {
  const tenant = tenantOfCall(ctx);
  ctx.tenant = tenant;
  ctx.record.tenant = tenant;
}

function tenantOfCall(ctx: RequestContext): string {
  const { headers, generation, record } = ctx;
  const tokens = headers.reserved.get(HEADER_CONTEXT);
  const asserted = headers.reserved.get(HEADER_TENANT);
  // Other reserved headers from the app (`x-palisade-caller` copied from its inbound
  // request by header propagation) are dropped: the app is inside the pod, not a spoofer.
  if (asserted !== undefined && asserted.length !== 1) {
    throw new ProxyError("tenant_context_invalid", "x-palisade-tenant appears more than once");
  }
  let tenant: string;
  if (tokens !== undefined) {
    if (tokens.length !== 1)
      throw new ProxyError("tenant_context_invalid", "x-palisade-context appears more than once");
    const verified = ctx.deps.tokens.verify(tokens[0] as string, ctx.deps.now());
    if (!verified.ok) {
      // An expired token is an app holding a context too long, not an attack.
      const suspicious = verified.reason !== "expired";
      throw new ProxyError(
        "tenant_context_invalid",
        `tenant context ${verified.reason}`,
        suspicious,
      );
    }
    tenant = verified.context.tenant;
    // Verified: a mismatch below is this tenant's, and is recorded as such.
    record.tenant = tenant;
    if (asserted !== undefined && asserted[0] !== tenant)
      throw new ProxyError("tenant_context_mismatch");
    if (headers.requestId === undefined) record.requestId = verified.context.requestId;
  } else if (asserted !== undefined) {
    if (!generation.config.outbound.allowUnsignedTenant) {
      throw new ProxyError("tenant_context_missing", "a signed x-palisade-context is required");
    }
    tenant = asserted[0] as string;
    if (!isTenantId(tenant) || !generation.tenants.has(tenant)) {
      throw new ProxyError("tenant_context_invalid", "no such tenant");
    }
  } else {
    throw new ProxyError("tenant_context_missing");
  }
  if (!generation.active.has(tenant)) throw new ProxyError("tenant_revoked");
  return tenant;
}
