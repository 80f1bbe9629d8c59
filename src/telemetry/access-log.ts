/**
 * The access line of a request, read from its record: Envoy's default access log fields
 * (protocol, authority, user agent, bytes each way, upstream time, the Palisade code as
 * the response flag, the peer's identity) as JSON. A refusal is always written, at warn:
 * hostile input must leave a trace. A served request is written when `access` is on and it
 * passes `accessFilter` (decision, status class, caller tenant) and its sample, all read
 * from the generation the request was served under, so a reload applies from the next one.
 * The line is built by hand (access-line.ts) and goes into the stream the other logs share.
 */
import type { Span } from "@opentelemetry/api";
import type { Config } from "../config/schema.js";
import type { RequestRecord } from "../path/record.js";
import { lineHead, type Logs } from "./logs.js";
import { accessLine } from "./access-line.js";
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
  // Built only here, once the line is known to be written: a request that logs nothing
  // allocates nothing for it.
  const level = refused ? "warn" : "info";
  const msg = refused ? "request refused" : undefined;
  logs.sink.write(accessLine(record, span, lineHead(logs.access, level), msg));
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
