/**
 * Inbound step 2: reserved headers never reach the app from the network (readHeaders has
 * already kept them out of what is forwarded). A peer sidecar may assert
 * `x-palisade-tenant`, and it must match the certificate; any other reserved name is
 * spoofing, recorded once per request. Routing headers stripped are recorded as noise.
 */
import type { RequestContext } from "../path/context.js";
import { ProxyError } from "../path/errors.js";
import { HEADER_TENANT } from "../path/headers.js";

export function stripReserved(ctx: RequestContext): void {
  const { headers, record } = ctx;
  let spoofed: string[] | undefined;
  for (const [name, values] of headers.reserved) {
    if (name !== HEADER_TENANT) (spoofed ??= []).push(name);
    else if (values.length !== 1 || values[0] !== ctx.tenant)
      throw new ProxyError(
        "tenant_context_mismatch",
        "asserted tenant differs from the client certificate",
      );
  }
  record.spoofed = spoofed;
  if (headers.routing.length > 0) record.routingStripped = headers.routing;
}
