/**
 * The access line of a request, read from its record: Envoy's default access log fields
 * (protocol, authority, user agent, bytes each way, upstream time, the Palisade code as
 * the response flag, the peer's identity) as JSON. A refusal is always written, at warn:
 * hostile input must leave a trace. A served request is written when `access` is on and it
 * passes `accessFilter` (decision, status class, caller tenant) and its sample, all read
 * from the generation the request was served under, so a reload applies from the next one.
 */
import type { Span } from "@opentelemetry/api";
import type { Config } from "../config/schema.js";
import type { RequestRecord } from "../path/record.js";
import type { Logs } from "./logs.js";
import { rawHeader, traceId } from "./report-fields.js";
import { codeClass } from "./request-metrics.js";

export type AccessLogConfig = Config["telemetry"]["logs"];
type AccessFilter = AccessLogConfig["accessFilter"];

export function writeAccessLine(
  record: RequestRecord,
  span: Span | undefined,
  logs: Logs,
  config: AccessLogConfig,
): void {
  const refused = record.refusal !== undefined;
  const logged = refused
    ? logs.access.isLevelEnabled("warn")
    : config.access && logs.access.isLevelEnabled("info") && passes(record, config.accessFilter);
  if (!logged) return;
  const line = accessFields(record, span);
  if (refused) logs.access.warn(line, "request refused");
  else logs.access.info(line);
}

/** Whether a served request passes the filter and falls inside the sample. */
export function passes(record: RequestRecord, filter: AccessFilter): boolean {
  const { decisions, statusClasses, tenants, sampleRatio } = filter;
  const decision = record.decision;
  if (decisions && (decision === undefined || decision === "deny" || !decisions.includes(decision)))
    return false;
  if (statusClasses && !(statusClasses as readonly string[]).includes(codeClass(record.status)))
    return false;
  if (tenants && (record.tenant === undefined || !tenants.includes(record.tenant))) return false;
  return sampled(record.requestId, sampleRatio);
}

/**
 * Sampled by the request id, not at random: the id travels with the call (`x-request-id`),
 * so every sidecar on its way with the same ratio logs it or none does, and a test can
 * pick ids on either side of the ratio.
 */
export function sampled(requestId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return fnv1a(requestId) / 2 ** 32 < ratio;
}

/** FNV-1a, 32 bits: cheap, well spread over short ids. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Milliseconds with microsecond resolution, as a number a log pipeline can sum. */
function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

function accessFields(record: RequestRecord, span: Span | undefined) {
  const refusal = record.refusal;
  return {
    direction: record.direction,
    requestId: record.requestId,
    method: record.method,
    path: record.path ?? "-",
    protocol: record.protocol,
    // Read here, not on the request path: only a written line pays for the header scan.
    authority: rawHeader(record.rawHeaders, ":authority") ?? rawHeader(record.rawHeaders, "host"),
    userAgent: rawHeader(record.rawHeaders, "user-agent"),
    status: record.status,
    // Envoy's response flag: the Palisade code of a refusal.
    error: refusal?.code,
    // Which limit a `rate_limited` hit; for other refusals nothing the code does not say.
    limit: refusal?.limit,
    grpcStatus: record.grpcStatus,
    tenant: record.tenant,
    caller: record.callerId,
    peer: record.peerService,
    target: record.target,
    decision: record.decision,
    cache: record.cache,
    upstream: record.upstream,
    region: record.region,
    bytesReceived: record.bytesIn,
    bytesSent: record.bytesOut,
    upstreamMs: record.upstreamSeconds === undefined ? undefined : ms(record.upstreamSeconds),
    traceId: traceId(record, span),
    durationMs: ms(record.seconds),
  };
}
