/**
 * The fields every audit line of a request shares, read from its record, and the trace id
 * that ties a log line to the request's span (or, without tracing, to the caller's trace).
 */
import { TraceFlags, type Span } from "@opentelemetry/api";
import type { RequestRecord } from "../path/record.js";
import { incomingTraceId } from "./tracing.js";

export function auditFields(record: RequestRecord, span: Span | undefined) {
  return {
    direction: record.direction,
    requestId: record.requestId,
    caller: record.tenant,
    callerId: record.callerId,
    target: record.target,
    decision: record.decision,
    method: record.method,
    path: record.path,
    traceId: traceId(record, span),
  };
}

/** The first value of header `name` (lower case) in a raw header list; undefined if absent. */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2)
    if ((raw[i] as string).toLowerCase() === name) return raw[i + 1];
  return undefined;
}

/** The trace id of a sampled span (an exemplar must point at a trace the collector has). */
export function sampledTraceId(span: Span | undefined): string | undefined {
  if (!span) return undefined;
  const { traceId, traceFlags } = span.spanContext();
  // The flags are a bit field; SAMPLED is one bit of it.
  return (traceFlags & (TraceFlags.SAMPLED as number)) !== 0 ? traceId : undefined;
}

/** This request's trace: its span's, or without tracing the one the caller sent, if any. */
export function traceId(record: RequestRecord, span: Span | undefined): string | undefined {
  return span ? span.spanContext().traceId : incomingTraceId(record.rawHeaders);
}
