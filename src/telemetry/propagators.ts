/**
 * The W3C and B3 propagators, loaded on first use: the request path reads and writes
 * canonical `traceparent` itself (trace-headers.ts, unsampled-span.ts), so a sidecar
 * without tracing whose callers send W3C never loads `@opentelemetry/core` or the B3
 * propagator at all. With tracing configured they are loaded with the SDK, before the
 * first request (tracing-provider.ts).
 */
import { createRequire } from "node:module";
import type { TextMapGetter, TextMapPropagator } from "@opentelemetry/api";
import type * as Core from "@opentelemetry/core";
import type * as B3 from "@opentelemetry/propagator-b3";

const require = createRequire(import.meta.url);

export interface Propagation {
  /**
   * Extracted in order, the last found wins: W3C over B3 when a caller sends both. Injected
   * as `traceparent`/`tracestate` and B3 multi-header, which every B3 reader accepts.
   */
  propagator: TextMapPropagator;
  TraceState: typeof Core.TraceState;
}

let loaded: Propagation | undefined;

/** Synchronous (both packages are CommonJS): the request path may need them mid-request. */
export function propagation(): Propagation {
  if (loaded) return loaded;
  const core = require("@opentelemetry/core") as typeof Core;
  const b3 = require("@opentelemetry/propagator-b3") as typeof B3;
  const propagator = new core.CompositePropagator({
    propagators: [
      new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER }),
      new core.W3CTraceContextPropagator(),
    ],
  });
  loaded = { propagator, TraceState: core.TraceState };
  return loaded;
}

/** Reads trace headers from raw header pairs without building a header object. */
export const rawHeaderGetter: TextMapGetter<readonly string[]> = {
  keys: (raw) => raw.filter((_, i) => i % 2 === 0).map((k) => k.toLowerCase()),
  get: (raw, key) => {
    for (let i = 0; i + 1 < raw.length; i += 2)
      if ((raw[i] as string).toLowerCase() === key) return raw[i + 1];
    return undefined;
  },
};
