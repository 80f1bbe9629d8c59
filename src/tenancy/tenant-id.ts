/**
 * Tenant ids are DNS labels. Anything else is rejected, never normalised:
 * no case folding, no trimming, no percent-decoding into an id.
 */
const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export type TenantId = string;

export function isTenantId(value: string): value is TenantId {
  return TENANT_ID.test(value);
}

/** The `tenant` label value: configured tenants by name, everything else `unknown`. */
export const UNKNOWN_TENANT = "unknown";
