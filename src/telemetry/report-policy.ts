/**
 * Consumers of a request's record for policy rollout and residency: what an audit-mode
 * grant would have done (a counter, an audit line and a span event beside the request's own
 * decision, which it never changes), and the upstream endpoints a call failed over from.
 */
import type { Span } from "@opentelemetry/api";
import type { FailedEndpoint, PolicyAudit, RequestRecord } from "../path/record.js";
import type { Logs } from "./logs.js";
import type { Metrics } from "./metrics.js";
import { auditFields, traceId } from "./report-fields.js";

/** Endpoints one failover line lists (an upstream has few; the count says if there were more). */
const FAILED_LISTED = 8;

/**
 * An audit-mode grant matched: `palisade_policy_audit_total`, one audit line with
 * `"decision":"would_allow"` and the grant's id, and a span event. The request's own
 * decision and its own lines are unaffected; `enforced` repeats what it actually was.
 */
export function policyAudited(
  record: RequestRecord,
  audit: PolicyAudit,
  span: Span | undefined,
  { metrics, logs }: { metrics: Metrics; logs: Logs },
): void {
  const { tenant, target } = record;
  if (tenant === undefined || target === undefined) return;
  metrics.policyAudit(tenant, target, audit.result);
  logs.audit.info(
    {
      ...auditFields(record, span),
      decision: audit.result,
      enforced: record.decision ?? "deny",
      grant: audit.grantId,
      mode: "audit",
      status: record.status,
    },
    "audit-mode grant would allow this request",
  );
  span?.addEvent("palisade.policy_audit", {
    "palisade.policy_audit.result": audit.result,
    "palisade.policy_audit.grant": audit.grantId,
  });
}

/**
 * A call reached its upstream only after others of its allowed endpoints failed, or never:
 * one warn line per request naming them, so a dead endpoint shows before the last one dies.
 */
export function failedOver(
  record: RequestRecord,
  failed: readonly FailedEndpoint[],
  span: Span | undefined,
  logs: Logs,
): void {
  if (failed.length === 0 || !logs.access.isLevelEnabled("warn")) return;
  logs.access.warn(
    {
      direction: record.direction,
      requestId: record.requestId,
      tenant: record.tenant,
      upstream: record.upstream,
      failed: failed.slice(0, FAILED_LISTED),
      failedCount: failed.length,
      answeredRegion: record.region,
      traceId: traceId(record, span),
    },
    "upstream endpoints unreachable",
  );
}
