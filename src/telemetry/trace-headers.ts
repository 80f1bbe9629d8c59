/**
 * The trace headers of a request read in one pass over its raw header list, and the
 * canonical W3C `traceparent` parsed without a regex or a context object: enough for the
 * request path to decide sampling and, for an unsampled request, to propagate its trace
 * without the OpenTelemetry propagators. Anything unusual (B3 headers, a `traceparent` not in
 * the canonical 55-character form) is left to the propagators, which decide as before.
 */
/** What one scan found. Read at once by the caller, then overwritten by the next scan. */
export interface TraceHeaders {
  traceparent: string | undefined;
  tracestate: string | undefined;
  /** Any B3 header (`b3`, `x-b3-*`): only the propagators read those. */
  b3: boolean;
}

/** Reused: a scan allocates nothing. Every field is written by each scan. */
const found: TraceHeaders = { traceparent: undefined, tracestate: undefined, b3: false };

/**
 * The first `traceparent` and `tracestate` (as the propagators read them) and whether any
 * B3 header is present. Only names of a trace header's length are lower-cased.
 */
export function scanTraceHeaders(raw: readonly string[]): TraceHeaders {
  found.traceparent = undefined;
  found.tracestate = undefined;
  found.b3 = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const length = name.length;
    // b3 (2), x-b3-flags / tracestate (10), x-b3-spanid / traceparent (11),
    // x-b3-traceid / x-b3-sampled (12), x-b3-parentspanid (17).
    if (length !== 2 && (length < 10 || length > 12) && length !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === "traceparent") found.traceparent ??= raw[i + 1];
    else if (lower === "tracestate") found.tracestate ??= raw[i + 1];
    else if (lower === "b3" || lower.startsWith("x-b3-")) found.b3 = true;
  }
  return found;
}

/** `00-` + 32 + `-` + 16 + `-` + 2: the only form the fast path reads. */
const CANONICAL_LENGTH = 55;

/**
 * The flags of a `traceparent` in the canonical form the W3C propagator accepts (lower-case
 * hex, version not `ff`, ids not all zero, no trailing fields), or -1 when it is not in that
 * form: then the propagator, which also accepts a little whitespace and future versions'
 * extra fields, has the last word.
 */
export function canonicalFlags(value: string): number {
  if (value.length !== CANONICAL_LENGTH) return -1;
  if (value.charCodeAt(2) !== 0x2d || value.charCodeAt(35) !== 0x2d) return -1;
  if (value.charCodeAt(52) !== 0x2d) return -1;
  if (!isHex(value, 0, 2) || value.startsWith("ff")) return -1;
  if (!isHex(value, 3, 35) || isZero(value, 3, 35)) return -1;
  if (!isHex(value, 36, 52) || isZero(value, 36, 52)) return -1;
  if (!isHex(value, 53, 55)) return -1;
  return hexValue(value.charCodeAt(53)) * 16 + hexValue(value.charCodeAt(54));
}

/** The trace id of a canonical `traceparent` (see canonicalFlags). */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

function isHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isZero(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) !== 0x30) return false;
  return true;
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}
