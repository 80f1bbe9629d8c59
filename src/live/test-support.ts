/** Records as the request path leaves them, for the live view's unit tests. */
import { newRecord, type RequestRecord } from "../path/record.js";
import type { Direction } from "../telemetry/metrics.js";

export interface RecordFields {
  direction?: Direction;
  tenant?: string;
  target?: string;
  service?: string;
  upstream?: string;
  decision?: "allow" | "grant" | "deny";
  grantId?: string;
  status?: number;
  code?: "cross_tenant_denied" | "rate_limited" | "upstream_unavailable";
  ms?: number;
  path?: string;
}

export function record(fields: RecordFields = {}): RequestRecord {
  const r = newRecord(fields.direction ?? "inbound", "GET", [], "HTTP/1.1");
  r.requestId = "req-1";
  r.tenant = fields.tenant ?? "acme";
  r.target = fields.target ?? r.tenant;
  r.callerId =
    fields.service === undefined
      ? undefined
      : `spiffe://mesh.local/tenant/${r.tenant}/sa/${fields.service}`;
  // As the identify stage does: the caller's service beside its SPIFFE id.
  r.peerService = fields.service;
  r.upstream = fields.upstream;
  // As the runner does: an isolation refusal is a denial, other refusals have no decision.
  const isolation = fields.code === "cross_tenant_denied";
  r.decision =
    fields.decision ?? (fields.code === undefined ? "allow" : isolation ? "deny" : undefined);
  r.grantId = fields.grantId;
  r.path = fields.path ?? `/tenants/${r.target}/x`;
  r.status = fields.status ?? (fields.code === undefined ? 200 : 403);
  if (fields.code !== undefined)
    r.refusal = { code: fields.code, message: fields.code, suspicious: true };
  r.seconds = (fields.ms ?? 1) / 1000;
  return r;
}

export const CONFIGURED = new Set(["acme", "globex", "initech"]);

export function label(tenant: string | undefined): string {
  return tenant !== undefined && CONFIGURED.has(tenant) ? tenant : "unknown";
}
