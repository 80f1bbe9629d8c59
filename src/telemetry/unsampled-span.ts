/**
 * An unsampled request's place in its trace: the trace id (the caller's, or a new one), a
 * span id of its own and the caller's `tracestate`, which is all W3C and B3 propagation
 * needs. One object per request, its own SpanContext; every recording method does nothing.
 * It stands in for the SDK's non-recording span, which costs a context extraction, a
 * sampler call, attribute objects and a span-context wrapper per request.
 */
import type {
  Attributes,
  Exception,
  HrTime,
  Link,
  Span,
  AttributeValue,
  SpanContext,
  SpanStatus,
  TimeInput,
} from "@opentelemetry/api";
import type { TraceState } from "@opentelemetry/core";
import type { HeaderMap } from "../http/message.js";

export class UnsampledSpan implements Span, SpanContext {
  readonly traceFlags = 0;
  /** Only when the caller sent one (the propagators test for its presence). */
  declare readonly traceState?: TraceState;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    traceState: TraceState | undefined,
  ) {
    if (traceState) this.traceState = traceState;
  }

  spanContext(): SpanContext {
    return this;
  }

  isRecording(): boolean {
    return false;
  }

  setAttribute(_key: string, _value: AttributeValue): this {
    return this;
  }

  setAttributes(_attributes: Attributes): this {
    return this;
  }

  addEvent(_name: string, _attributes?: Attributes | TimeInput, _time?: TimeInput): this {
    return this;
  }

  addLink(_link: Link): this {
    return this;
  }

  addLinks(_links: Link[]): this {
    return this;
  }

  setStatus(_status: SpanStatus): this {
    return this;
  }

  updateName(_name: string): this {
    return this;
  }

  end(_endTime?: HrTime | number | Date): void {}

  recordException(_exception: Exception, _time?: TimeInput): void {}
}

/**
 * Writes what the propagators would write for this span (B3 multi-header first, then W3C),
 * into headers from which the caller's trace headers were already removed.
 */
export function injectUnsampled(span: UnsampledSpan, headers: HeaderMap): void {
  headers["x-b3-traceid"] = span.traceId;
  headers["x-b3-spanid"] = span.spanId;
  headers["x-b3-sampled"] = "0";
  headers["traceparent"] = `00-${span.traceId}-${span.spanId}-00`;
  if (span.traceState) headers["tracestate"] = span.traceState.serialize();
}
