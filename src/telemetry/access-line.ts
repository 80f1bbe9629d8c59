/**
 * The access line serialised by hand: the JSON pino wrote for the same fields (same names,
 * order and types, undefined fields omitted, `msg` last), built as one string with no
 * intermediate object and no walk over keys. Only a value holding a character JSON must
 * escape goes through JSON.stringify.
 */
import type { Span } from "@opentelemetry/api";
import type { RequestRecord } from "../path/record.js";
import { rawHeader, traceId } from "./report-fields.js";

/**
 * `text` as a JSON string. The scan sends quotes, backslashes, control characters and
 * surrogates to JSON.stringify, which escapes a lone surrogate as `\udXXX` (pino on Node
 * 20 leaves a short one raw, to be written as U+FFFD); anything else is quoted as it is.
 */
export function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff))
      return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** `key` is the literal `,"name":`; nothing when the value is undefined, as pino omits it. */
function str(key: string, value: string | undefined): string {
  return value === undefined ? "" : key + jsonString(value);
}

/** A number as pino writes one: `null` when not finite. */
function num(key: string, value: number | undefined): string {
  if (value === undefined) return "";
  return key + (Number.isFinite(value) ? String(value) : "null");
}

/** Milliseconds with microsecond resolution, as a number a log pipeline can sum. */
export function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

/**
 * One access line, newline included. `head` is what pino writes before the fields:
 * `{"level":…,"time":…` and the logger's bindings (`,"service":…,"log":"access"`).
 */
export function accessLine(
  record: RequestRecord,
  span: Span | undefined,
  head: string,
  msg: string | undefined,
): string {
  const { refusal, rawHeaders } = record;
  const upstream = record.upstreamSeconds;
  return (
    head +
    str(',"direction":', record.direction) +
    str(',"requestId":', record.requestId) +
    str(',"method":', record.method) +
    str(',"path":', record.path ?? "-") +
    str(',"protocol":', record.protocol) +
    // Read here, not on the request path: only a written line pays for the header scan.
    str(',"authority":', rawHeader(rawHeaders, ":authority") ?? rawHeader(rawHeaders, "host")) +
    str(',"userAgent":', rawHeader(rawHeaders, "user-agent")) +
    num(',"status":', record.status) +
    // Envoy's response flag: the Palisade code of a refusal.
    str(',"error":', refusal?.code) +
    // Which limit a `rate_limited` hit; for other refusals nothing the code does not say.
    str(',"limit":', refusal?.limit) +
    num(',"grpcStatus":', record.grpcStatus) +
    str(',"tenant":', record.tenant) +
    str(',"caller":', record.callerId) +
    str(',"peer":', record.peerService) +
    str(',"target":', record.target) +
    str(',"decision":', record.decision) +
    str(',"cache":', record.cache) +
    str(',"upstream":', record.upstream) +
    str(',"region":', record.region) +
    num(',"bytesReceived":', record.bytesIn) +
    num(',"bytesSent":', record.bytesOut) +
    num(',"upstreamMs":', upstream === undefined ? undefined : ms(upstream)) +
    str(',"traceId":', traceId(record, span)) +
    num(',"durationMs":', ms(record.seconds)) +
    str(',"msg":', msg) +
    "}\n"
  );
}
