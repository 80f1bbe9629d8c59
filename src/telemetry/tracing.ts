/**
 * OpenTelemetry traces: one span per request and direction, W3C `traceparent` /
 * `tracestate` taken from the app or the peer and passed on. With no `telemetry.otlp`
 * there is no tracer at all and the request path skips tracing entirely.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapGetter,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { Config } from "../config/schema.js";
import type { HeaderMap } from "../http/message.js";

export interface Tracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const EXPORT_TIMEOUT_MS = 5_000;

/** Reads `traceparent`/`tracestate` from raw header pairs without building a header object. */
const rawHeaderGetter: TextMapGetter<readonly string[]> = {
  keys: (raw) => raw.filter((_, i) => i % 2 === 0).map((k) => k.toLowerCase()),
  get: (raw, key) => {
    for (let i = 0; i + 1 < raw.length; i += 2)
      if ((raw[i] as string).toLowerCase() === key) return raw[i + 1];
    return undefined;
  },
};

/**
 * The SDK and exporter are loaded only when tracing is configured: a sidecar without
 * `telemetry.otlp` never pays their memory (about 17 MiB) or start-up time.
 */
export async function createTracing(config: Config): Promise<Tracing | undefined> {
  const otlp = config.telemetry.otlp;
  if (!otlp) return undefined;
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, sdk] = await Promise.all([
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
  ]);
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } =
    sdk;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": `palisade-${config.service}`,
      "palisade.service": config.service,
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(otlp.sampleRatio) }),
    // Bounded everywhere: a slow or dead collector drops spans (queue full) and delays a
    // drain by at most EXPORT_TIMEOUT_MS; it never slows the request path.
    spanProcessors: [
      new BatchSpanProcessor(
        new OTLPTraceExporter({
          url: otlp.endpoint,
          headers: otlp.headers,
          timeoutMillis: EXPORT_TIMEOUT_MS,
        }),
        { scheduledDelayMillis: 500, maxQueueSize: 4096, exportTimeoutMillis: EXPORT_TIMEOUT_MS },
      ),
    ],
  });
  return {
    tracer: provider.getTracer("palisade"),
    // Flushes what is queued. Spans a dead collector cannot take are lost, and that is
    // never a reason for a drain to fail.
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/** Starts the request's span as a child of the trace the caller sent, if any. */
export function startRequestSpan(
  tracer: Tracer,
  direction: "inbound" | "outbound",
  method: string,
  rawHeaders: readonly string[],
): Span {
  const parent = propagator.extract(ROOT_CONTEXT, rawHeaders, rawHeaderGetter);
  return tracer.startSpan(
    `palisade ${direction} ${method}`,
    {
      kind: direction === "inbound" ? SpanKind.SERVER : SpanKind.CLIENT,
      attributes: { "http.request.method": method, "palisade.direction": direction },
    },
    parent,
  );
}

/** Replaces the forwarded `traceparent`/`tracestate` with the request span's context. */
export function injectSpan(span: Span, headers: HeaderMap): void {
  delete headers["traceparent"];
  delete headers["tracestate"];
  propagator.inject(trace.setSpan(context.active(), span), headers, {
    set: (carrier: HeaderMap, key, value) => {
      carrier[key] = value;
    },
  });
}

/**
 * The trace id the caller sent in a valid `traceparent`, for log lines when no tracer is
 * configured: logs still correlate with the app's traces at the cost of one header scan.
 */
export function incomingTraceId(rawHeaders: readonly string[]): string | undefined {
  const parent = propagator.extract(ROOT_CONTEXT, rawHeaders, rawHeaderGetter);
  return trace.getSpanContext(parent)?.traceId;
}

/**
 * Sets the attributes known at the end and ends the span. A refusal (`error`, one of
 * DESIGN.md's codes) sets `error.type` and an ERROR status: Palisade's own refusals are
 * what an operator searches traces for, 4xx or not.
 */
export function endRequestSpan(
  span: Span,
  attributes: Record<string, string | number | undefined>,
  error?: string,
): void {
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) span.setAttribute(key, value);
  if (error !== undefined) {
    span.setAttribute("error.type", error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  }
  span.end();
}
