import {
  ROOT_CONTEXT,
  context,
  trace,
  type Context,
  type ContextManager,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnomalyAlert } from "./alert.js";
import { fanOut, logSink, metricsSink, traceSink } from "./sinks.js";
import { recordingLogger, recordingMetrics } from "./test-support.js";

const ALERT: AnomalyAlert = {
  tenant: "globex",
  kind: "target_probing",
  startsAt: Date.UTC(2026, 0, 1),
  observed: 5,
  threshold: 5,
  baselineBar: 0,
  windowMs: 60_000,
  targets: ["acme", "initech"],
  requestId: "r-1",
};

/** Synchronous context manager: enough for `context.with` in a test, no async hooks. */
class StackContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

describe("alert sinks", () => {
  beforeAll(() => context.setGlobalContextManager(new StackContextManager()));
  afterAll(() => context.disable());

  it("logs firing at warn and resolution at info, as event lines", () => {
    const logger = recordingLogger();
    const sink = logSink(logger);
    sink.fired(ALERT);
    sink.resolved({ ...ALERT, endsAt: ALERT.startsAt + 1_000 });
    expect(logger.lines.map((l) => l.level)).toEqual(["warn", "info"]);
    expect(logger.lines[0]?.obj).toMatchObject({
      event: "anomaly_alert",
      status: "firing",
      tenant: "globex",
      kind: "target_probing",
      targets: ["acme", "initech"],
      requestId: "r-1",
    });
    expect(logger.lines[0]?.msg).toContain("globex");
    expect(logger.lines[1]?.obj).toMatchObject({
      status: "resolved",
      endsAt: "2026-01-01T00:00:01.000Z",
    });
  });

  it("counts a firing and toggles the active gauge", () => {
    const metrics = recordingMetrics();
    const sink = metricsSink(metrics);
    sink.fired(ALERT);
    sink.resolved(ALERT);
    expect(metrics.calls).toEqual([
      "fired globex target_probing",
      "active globex target_probing 1",
      "active globex target_probing 0",
    ]);
  });

  it("adds an event to the request's span, or makes a short span when there is none", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer("test");
    const sink = traceSink(tracer);

    const request = tracer.startSpan("inbound");
    context.with(trace.setSpan(context.active(), request), () => sink.fired(ALERT));
    request.end();
    sink.resolved(ALERT);
    await provider.forceFlush();

    const [inbound, resolved] = exporter.getFinishedSpans();
    expect(inbound?.name).toBe("inbound");
    expect(inbound?.events.map((e) => e.name)).toEqual(["palisade.anomaly.fired"]);
    expect(inbound?.events[0]?.attributes).toMatchObject({
      "tenant.id": "globex",
      "palisade.anomaly.kind": "target_probing",
    });
    expect(resolved?.name).toBe("palisade.anomaly.resolved");
    await provider.shutdown();
  });

  it("is a no-op without an SDK or a tracer", () => {
    expect(() => traceSink().fired(ALERT)).not.toThrow();
  });

  it("fans out past a sink that throws", () => {
    const errors: unknown[] = [];
    const metrics = recordingMetrics();
    const broken = {
      fired: () => {
        throw new Error("boom");
      },
      resolved: () => {},
    };
    fanOut(
      () => [broken, metricsSink(metrics)],
      (e) => errors.push(e),
    ).fired(ALERT);
    expect(errors).toHaveLength(1);
    expect(metrics.calls).toHaveLength(2);
  });
});
