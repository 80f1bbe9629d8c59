/**
 * The consumers of a request's record (path/record.ts), run once its response has
 * completed: request and cache metrics, the span's closing attributes, the audit lines
 * (spoofing, denials, grant use, audit-mode grants), the anomaly events and the access line. What they emit
 * depends on the generation the request was served under (the access log's switch, filter
 * and sample), so a reload changes it from the next request.
 */
import type { Span } from "@opentelemetry/api";
import type { SuspiciousEvent, SuspiciousEventKind } from "../anomaly/alert.js";
import { isIsolationCode, type ErrorCode } from "../path/errors.js";
import type { Refusal, RequestRecord } from "../path/record.js";
import type { Logs } from "./logs.js";
import type { Metrics } from "./metrics.js";
import { writeAccessLine, type AccessLogConfig } from "./access-log.js";
import { auditFields, sampledTraceId } from "./report-fields.js";
import { failedOver, policyAudited } from "./report-policy.js";
import { endRequestSpan } from "./tracing.js";

export interface ReportSinks {
  metrics: Metrics;
  logs: Logs;
  anomaly: { record(event: SuspiciousEvent): void };
  /** The live view (live/feed.ts): optional, so a consumer can be tested without it. */
  feed?: { publish(record: RequestRecord): void } | undefined;
}

const SUSPICIOUS: Partial<Record<ErrorCode, SuspiciousEventKind>> = {
  cross_tenant_denied: "cross_tenant_denied",
  tenant_context_mismatch: "tenant_context_mismatch",
  tenant_context_invalid: "tenant_context_invalid",
};

/** Reserved names one audit line lists, and the characters kept of each. */
const SPOOFED_LISTED = 8;
const SPOOFED_NAME_CHARS = 64;
/** Routing header names one debug line lists. */
const ROUTING_LISTED = 8;

export function reportRequest(
  record: RequestRecord,
  span: Span | undefined,
  sinks: ReportSinks,
  accessLog: AccessLogConfig,
): void {
  const { metrics, logs } = sinks;
  if (record.unexpected !== undefined)
    logs.root.error(
      { err: record.unexpected, requestId: record.requestId },
      "unexpected error on request path",
    );
  if (record.routingStripped) routingStripped(record, record.routingStripped, logs);
  if (record.spoofed) spoofed(record, record.spoofed, span, sinks);
  if (record.cache !== undefined && record.tenant !== undefined)
    metrics.cacheRequest(record.tenant, record.cache);
  const refusal = record.refusal;
  if (refusal && isIsolationCode(refusal.code)) denied(record, refusal, span, sinks);
  if (record.policyAudit) policyAudited(record, record.policyAudit, span, sinks);
  if (record.failedEndpoints) failedOver(record, record.failedEndpoints, span, logs);
  if (span?.isRecording()) endSpan(record, span);
  metrics.request({
    direction: record.direction,
    tenant: record.tenant,
    peer: record.peerService,
    upstream: record.upstream,
    status: record.status,
    seconds: record.seconds,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    traceId: sampledTraceId(span),
  });
  if (record.grantId !== undefined && record.tenant !== undefined && record.target !== undefined) {
    metrics.granted(record.tenant, record.target);
    logs.audit.info(
      {
        ...auditFields(record, span),
        grant: record.grantId,
        status: record.status,
        bytes: record.bytesOut,
      },
      "cross-tenant request allowed by grant",
    );
  }
  writeAccessLine(record, span, logs, accessLog);
  sinks.feed?.publish(record);
}

/** Routing headers are ordinary client noise, not spoofing: a debug line, bounded, and no event. */
function routingStripped(record: RequestRecord, names: readonly string[], logs: Logs): void {
  if (names.length === 0 || !logs.access.isLevelEnabled("debug")) return;
  logs.access.debug(
    {
      requestId: record.requestId,
      headers: names.slice(0, ROUTING_LISTED),
      headerCount: names.length,
    },
    "routing headers from the network stripped",
  );
}

/**
 * Reserved headers arrived from where they must not come from: one audit line (listing the
 * first few, cut short) and one anomaly event per request, however many names it padded.
 * The line describes the request as it stood when they were stripped: before any decision.
 */
function spoofed(
  record: RequestRecord,
  names: readonly string[],
  span: Span | undefined,
  { logs, anomaly, metrics }: ReportSinks,
): void {
  const listed = names.slice(0, SPOOFED_LISTED).map((name) => name.slice(0, SPOOFED_NAME_CHARS));
  logs.audit.warn(
    {
      ...auditFields(record, span),
      target: undefined,
      decision: undefined,
      path: undefined,
      reason: "spoofed_header",
      // `header` (the first name) as before, for readers of the one-name line.
      header: listed[0],
      headers: listed,
      headerCount: names.length,
    },
    "reserved headers from the network stripped",
  );
  anomaly.record({
    tenant: metrics.label(record.tenant),
    kind: "spoofed_header",
    requestId: record.requestId,
  });
}

function denied(
  record: RequestRecord,
  refusal: Refusal,
  span: Span | undefined,
  { metrics, logs, anomaly }: ReportSinks,
): void {
  metrics.denied(record.direction, record.tenant, record.target, refusal.code);
  logs.audit.warn(
    { ...auditFields(record, span), reason: refusal.code, detail: refusal.message },
    "request denied",
  );
  const kind = refusal.suspicious ? SUSPICIOUS[refusal.code] : undefined;
  if (!kind) return;
  anomaly.record({
    tenant: metrics.label(record.tenant),
    kind,
    // The raw (validated) id, not the label: probing invented tenants is still probing.
    // The detector bounds what it keeps per tenant; targets never become metric labels.
    ...(record.target === undefined ? {} : { target: record.target }),
    requestId: record.requestId,
  });
}

function endSpan(record: RequestRecord, span: Span): void {
  endRequestSpan(
    span,
    {
      method: record.method ?? "_OTHER",
      status: record.status,
      route: record.route,
      refusal: record.refusal?.code,
      attributes: {
        "tenant.id": record.tenant,
        "tenant.target": record.target ?? record.tenant,
        "palisade.decision": record.decision,
        "palisade.grant": record.grantId,
        "palisade.cache": record.cache,
        "palisade.peer": record.peerService,
        "http.response.status_code": record.status,
        "rpc.grpc.status_code": record.grpcStatus,
        "url.path": record.path,
        "palisade.upstream": record.upstream,
        "palisade.upstream.region": record.region,
        "palisade.policy_audit.grant": record.policyAudit?.grantId,
        "palisade.request_id": record.requestId,
      },
    },
    record.direction,
  );
}
