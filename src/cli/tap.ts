/**
 * `palisade tap [--admin URL] [--tenant T] [--decision D] [--json]`: the admin listener's
 * request events, one line each, as they happen. Ends (exit 1) when the sidecar goes away.
 */
import { DECISIONS } from "../live/event.js";
import { isTenantId } from "../tenancy/tenant-id.js";
import { oneOf, parseFlags, UsageError } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    admin: { type: "string" },
    tenant: { type: "string" },
    decision: { type: "string" },
    json: { type: "boolean", default: false },
  });
  const { adminUrl, streamEvents } = await import("../live/admin-client.js");
  const { eventLine } = await import("../live/terminal.js");
  const admin = adminUrl(values.admin);
  const query = new URLSearchParams();
  if (values.tenant !== undefined) {
    if (!isTenantId(values.tenant)) throw new UsageError("--tenant must be a tenant id");
    query.set("tenant", values.tenant);
  }
  if (values.decision !== undefined)
    query.set("decision", oneOf(values.decision, "--decision", DECISIONS));
  try {
    for await (const event of streamEvents(admin, query))
      process.stdout.write(`${values.json ? JSON.stringify(event) : eventLine(event)}\n`);
  } catch (err) {
    process.stderr.write(`palisade tap: ${admin.origin}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`palisade tap: ${admin.origin} closed the stream\n`);
  return 1;
}
