/**
 * The request path's sampling gate against the SDK it stands in for: the same decision as
 * the parent-based ratio sampler, the same trace id, and byte for byte the headers the
 * propagators would write for an unsampled request, with no OpenTelemetry object made for
 * one. Spans that are sampled go to a real OTLP/HTTP receiver.
 */
import type { IncomingMessage } from "node:http";
import { ROOT_CONTEXT, trace, TraceFlags, type Span } from "@opentelemetry/api";
import { CompositePropagator, TraceState, W3CTraceContextPropagator } from "@opentelemetry/core";
import { B3InjectEncoding, B3Propagator } from "@opentelemetry/propagator-b3";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOtlpReceiver, type OtlpReceiver } from "../../test/support/otlp-receiver.js";
import type { HeaderMap } from "../http/message.js";
import { canonicalFlags } from "./trace-headers.js";
import { createTracing, type Tracing } from "./tracing-provider.js";
import { incomingTraceId, injectSpan, startRequestSpan } from "./tracing.js";
import { UnsampledSpan } from "./unsampled-span.js";

const { NOT_RECORD } = SamplingDecision;
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

let receiver: OtlpReceiver;
let tracing: Tracing;
let ratio = 0;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const otlp = { endpoint: receiver.endpoint, sampleRatio: 0, headers: {} };
  const made = await createTracing("orders", otlp, () => ratio, {});
  if (!made) throw new Error("tracing is configured");
  tracing = made;
});
afterAll(async () => {
  await tracing.shutdown();
  await receiver.close();
});

/** Only what the gate and the SDK path read of a request. */
function request(headers: Record<string, string>): IncomingMessage {
  const rawHeaders = Object.entries({ Host: "orders", ...headers }).flat();
  return {
    method: "GET",
    httpVersion: "1.1",
    rawHeaders,
    socket: { remoteAddress: "127.0.0.1" },
  } as unknown as IncomingMessage;
}

function start(headers: Record<string, string> = {}): Span {
  return startRequestSpan(tracing, "inbound", request(headers));
}

describe("the sampling gate", () => {
  it("makes no SDK span for an unsampled parent and keeps its trace and tracestate", () => {
    ratio = 1;
    const span = start({ traceparent: `00-${TRACE}-${PARENT}-00`, tracestate: "a=1, b=2" });
    expect(span).toBeInstanceOf(UnsampledSpan);
    expect(span.isRecording()).toBe(false);
    const context = span.spanContext();
    expect(context.traceId).toBe(TRACE);
    expect(context.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(context.spanId).not.toBe(PARENT);
    expect(context.traceFlags).toBe(TraceFlags.NONE);
    expect(context.traceState?.serialize()).toBe("a=1,b=2");
  });

  it("records a sampled parent's request through the SDK, whatever the ratio", () => {
    ratio = 0;
    const span = start({ traceparent: `00-${TRACE}-${PARENT}-01` });
    expect(span).not.toBeInstanceOf(UnsampledSpan);
    expect(span.isRecording()).toBe(true);
    expect(span.spanContext().traceId).toBe(TRACE);
    span.end();
  });

  it("starts an unsampled trace at ratio 0 without the SDK", () => {
    ratio = 0;
    const spans = Array.from({ length: 50 }, () => start());
    expect(spans.every((s) => s instanceof UnsampledSpan)).toBe(true);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(50);
  });

  it("samples a root by the ratio on the very trace id the span then carries", () => {
    ratio = 0.5;
    const reference = new TraceIdRatioBasedSampler(0.5);
    const spans = Array.from({ length: 200 }, () => start());
    for (const span of spans) {
      const { traceId, traceFlags } = span.spanContext();
      const sampled = reference.shouldSample(ROOT_CONTEXT, traceId).decision !== NOT_RECORD;
      expect(span.isRecording()).toBe(sampled);
      expect(traceFlags).toBe(sampled ? TraceFlags.SAMPLED : TraceFlags.NONE);
      span.end();
    }
    // 200 draws at one half: both outcomes occur (a failure here is a 2^-199 event).
    expect(new Set(spans.map((s) => s.spanContext().traceFlags)).size).toBe(2);
  });

  it("leaves B3 and unusual traceparents to the propagators", () => {
    ratio = 0;
    const b3 = start({ b3: `${TRACE}-${PARENT}-1` });
    expect(b3.isRecording()).toBe(true);
    expect(b3.spanContext().traceId).toBe(TRACE);
    b3.end();
    // A future version's extra field: valid W3C, not the canonical form.
    const future = start({ traceparent: `01-${TRACE}-${PARENT}-01-extra` });
    expect(future.isRecording()).toBe(true);
    expect(future.spanContext().traceId).toBe(TRACE);
    future.end();
  });
});

describe("canonical traceparents", () => {
  const w3c = new W3CTraceContextPropagator();
  const getter = {
    keys: () => ["traceparent"],
    get: (c: string, k: string) => (k === "traceparent" ? c : undefined),
  };
  const propagatorSays = (value: string) =>
    trace.getSpanContext(w3c.extract(ROOT_CONTEXT, value, getter));

  it.each([
    `00-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-00`,
    `00-${TRACE}-${PARENT}-03`,
    `fe-${TRACE}-${PARENT}-00`,
    `ff-${TRACE}-${PARENT}-00`,
    `00-${TRACE.toUpperCase()}-${PARENT}-00`,
    `00-${"0".repeat(32)}-${PARENT}-00`,
    `00-${TRACE}-${"0".repeat(16)}-00`,
    `00-${TRACE}-${PARENT}-0g`,
    `00_${TRACE}-${PARENT}-00`,
    `00-${TRACE}-${PARENT}-00-x`,
    ` 00-${TRACE}-${PARENT}-0`,
    "",
  ])("never reads what the W3C propagator would not: %j", (value) => {
    const flags = canonicalFlags(value);
    const context = propagatorSays(value);
    if (flags === -1) return;
    expect(context?.traceId).toBe(value.slice(3, 35));
    expect(context?.traceFlags).toBe(flags);
  });

  it("reads the caller's trace id for log lines as the propagators do", () => {
    expect(incomingTraceId(["TraceParent", `00-${TRACE}-${PARENT}-00`])).toBe(TRACE);
    expect(incomingTraceId(["X-B3-TraceId", TRACE, "X-B3-SpanId", PARENT])).toBe(TRACE);
    expect(incomingTraceId(["b3", `${TRACE}-${PARENT}-1`])).toBe(TRACE);
    expect(incomingTraceId(["traceparent", "garbage"])).toBeUndefined();
    expect(incomingTraceId(["host", "orders"])).toBeUndefined();
  });
});

describe("propagation of an unsampled request", () => {
  const propagator = new CompositePropagator({
    propagators: [
      new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
      new W3CTraceContextPropagator(),
    ],
  });
  const stale = (): HeaderMap => ({
    accept: "*/*",
    traceparent: `00-${TRACE}-${PARENT}-00`,
    tracestate: "old=1",
    b3: "stale",
    "x-b3-flags": "1",
    "x-request-id": "r1",
  });

  it.each([
    ["with a tracestate", new TraceState("a=1,b=2")],
    ["without one", undefined],
  ])("writes exactly the propagators' headers, %s", (_, state) => {
    const span = new UnsampledSpan(TRACE, "b7ad6b7169203331", state);
    const fast = stale();
    injectSpan(span, fast);
    const reference = stale();
    for (const name of ["traceparent", "tracestate", "b3", "x-b3-flags"]) delete reference[name];
    const wrapped = trace.wrapSpanContext({
      traceId: TRACE,
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.NONE,
      ...(state ? { traceState: state } : {}),
    });
    propagator.inject(trace.setSpan(ROOT_CONTEXT, wrapped), reference, {
      set: (carrier: HeaderMap, key, value) => {
        carrier[key] = value;
      },
    });
    expect(Object.entries(fast)).toEqual(Object.entries(reference));
  });
});

describe("what is exported", () => {
  it("exports the sampled spans and none of the unsampled ones", async () => {
    ratio = 0;
    const unsampled = "cccccccccccccccc1111111111111111";
    for (let i = 0; i < 20; i++) start({ traceparent: `00-${unsampled}-${PARENT}-00` }).end();
    for (let i = 0; i < 20; i++) start().end();
    const marker = "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb";
    start({ traceparent: `00-${marker}-${PARENT}-01` }).end();
    // One batch processor: once the span ended last is in, earlier ones would have been too.
    await receiver.waitFor((all) => all.some((s) => s.traceId === marker), "the sampled span");
    expect(receiver.spans.filter((s) => s.traceId === unsampled)).toEqual([]);
    // The earlier tests exported only spans of TRACE (sampled parents, B3) and the ratio test's.
    const sampledRoots = receiver.spans.filter((s) => s.parentSpanId === "");
    expect(sampledRoots.every((s) => s.name === "GET")).toBe(true);
  });
});
