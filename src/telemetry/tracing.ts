/**
 * OpenTelemetry traces by the HTTP semantic conventions: one span per request and
 * direction, named `{method} {route}`, a child of the trace the app or the peer sent in
 * W3C `traceparent` or B3 (single or multi header), and passed on in both. With no tracer
 * configured (tracing-provider.ts) the request path skips tracing entirely.
 *
 * Sampling is decided before any OpenTelemetry object is made: from a canonical W3C
 * `traceparent` (its sampled flag, as the parent-based sampler would) or, with no trace
 * headers, from the ratio on a trace id drawn here. An unsampled request then gets an
 * UnsampledSpan, which propagates its trace and records nothing. B3 headers or an unusual
 * `traceparent` go through the propagators and the SDK, which decide as before.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import type { HeaderMap } from "../http/message.js";
import { propagation, rawHeaderGetter } from "./propagators.js";
import { canonicalFlags, scanTraceHeaders, traceIdOf } from "./trace-headers.js";
import type { Tracing } from "./tracing-provider.js";
import { injectUnsampled, UnsampledSpan } from "./unsampled-span.js";

export { createTracing, type Tracing } from "./tracing-provider.js";

/** Trace headers from the caller, replaced by the request span's own before forwarding. */
const TRACE_HEADERS = [
  "traceparent",
  "tracestate",
  "b3",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
];

/**
 * The request's span: recording when sampled, an UnsampledSpan otherwise. The decision is
 * the parent-based ratio sampler's, made from one scan of the raw headers.
 */
export function startRequestSpan(
  tracing: Tracing,
  direction: "inbound" | "outbound",
  req: IncomingMessage | Http2ServerRequest,
): Span {
  const found = scanTraceHeaders(req.rawHeaders);
  const { traceparent, tracestate } = found;
  if (traceparent) {
    const flags = canonicalFlags(traceparent);
    // A remote parent's decision wins (ParentBasedSampler): sampled means recorded.
    if (flags >= 0 && (flags & (TraceFlags.SAMPLED as number)) === 0)
      return new UnsampledSpan(
        traceIdOf(traceparent),
        tracing.ids.generateSpanId(),
        tracestate ? new (propagation().TraceState)(tracestate) : undefined,
      );
    // Sampled, or a form only the propagator reads.
    return recordedSpan(tracing.tracer, direction, req, undefined);
  }
  if (found.b3) return recordedSpan(tracing.tracer, direction, req, undefined);
  // A root: the ratio decides on the trace id this request will carry either way.
  const traceId = tracing.ids.generateTraceId();
  if (!tracing.sampleRoot(traceId))
    return new UnsampledSpan(traceId, tracing.ids.generateSpanId(), undefined);
  tracing.ids.presetTraceId(traceId);
  return recordedSpan(tracing.tracer, direction, req, ROOT_CONTEXT);
}

/**
 * Starts the span through the SDK as a child of the trace the caller sent, if any, with
 * the attributes known before any stage runs (the sampler sees them). Named `{method}`
 * until the route is known. `parent` is given when the headers are known to carry none.
 */
function recordedSpan(
  tracer: Tracer,
  direction: "inbound" | "outbound",
  req: IncomingMessage | Http2ServerRequest,
  parent: Context | undefined,
): Span {
  const method = req.method ?? "_OTHER";
  const from =
    parent ?? propagation().propagator.extract(ROOT_CONTEXT, req.rawHeaders, rawHeaderGetter);
  const authority =
    rawHeaderGetter.get(req.rawHeaders, ":authority") ??
    rawHeaderGetter.get(req.rawHeaders, "host");
  const attributes: Record<string, string> = {
    "http.request.method": method,
    "network.protocol.version": req.httpVersion === "2.0" ? "2" : req.httpVersion,
    "palisade.direction": direction,
  };
  const server = typeof authority === "string" ? hostOf(authority) : undefined;
  if (server !== undefined) attributes["server.address"] = server;
  const client = req.socket.remoteAddress;
  if (client !== undefined) attributes["client.address"] = client;
  return tracer.startSpan(
    method,
    { kind: direction === "inbound" ? SpanKind.SERVER : SpanKind.CLIENT, attributes },
    from,
  );
}

/** `host` of `host[:port]`, brackets of an IPv6 literal removed. */
function hostOf(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(1, authority.indexOf("]"));
  const colon = authority.lastIndexOf(":");
  return colon === -1 ? authority : authority.slice(0, colon);
}

/** Replaces the forwarded trace headers with the request span's context. */
export function injectSpan(span: Span, headers: HeaderMap): void {
  // Most requests carry none of them: a read is cheaper than deleting what is not there.
  for (const name of TRACE_HEADERS) if (headers[name] !== undefined) delete headers[name];
  if (span instanceof UnsampledSpan) return injectUnsampled(span, headers);
  propagation().propagator.inject(trace.setSpan(context.active(), span), headers, {
    set: (carrier: HeaderMap, key, value) => {
      carrier[key] = value;
    },
  });
}

/**
 * The trace id the caller sent (W3C or B3), for log lines when no tracer is configured:
 * logs still correlate with the app's traces at the cost of one header scan.
 */
export function incomingTraceId(rawHeaders: readonly string[]): string | undefined {
  const { traceparent, b3 } = scanTraceHeaders(rawHeaders);
  // A valid traceparent wins over B3; without either, there is nothing to find.
  if (traceparent && canonicalFlags(traceparent) >= 0) return traceIdOf(traceparent);
  if (!traceparent && !b3) return undefined;
  const parent = propagation().propagator.extract(ROOT_CONTEXT, rawHeaders, rawHeaderGetter);
  return trace.getSpanContext(parent)?.traceId;
}

/** What the span learns at the end, from the request's record. */
export interface SpanEnd {
  method: string;
  status: number;
  /** The route template (the target rule's path pattern), never the path itself. */
  route: string | undefined;
  /** A refusal's code (DESIGN.md's table). */
  refusal: string | undefined;
  attributes: Record<string, string | number | undefined>;
}

/**
 * Sets the attributes known at the end, names the span `{method} {route}` and ends it.
 * The status follows the HTTP conventions: a server span (inbound) is an error from 5xx
 * only, since a 4xx is the caller's doing, and a client span (outbound) from 4xx. A
 * refusal is always findable by `palisade.refusal`.
 */
export function endRequestSpan(span: Span, end: SpanEnd, kind: "inbound" | "outbound"): void {
  for (const [key, value] of Object.entries(end.attributes))
    if (value !== undefined) span.setAttribute(key, value);
  if (end.route !== undefined) {
    span.setAttribute("http.route", end.route);
    span.updateName(`${end.method} ${end.route}`);
  }
  if (end.refusal !== undefined) span.setAttribute("palisade.refusal", end.refusal);
  if (end.status >= (kind === "inbound" ? 500 : 400)) {
    const type = end.refusal ?? String(end.status);
    span.setAttribute("error.type", type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end();
}
