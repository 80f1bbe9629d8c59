/**
 * The tracer: OTLP/HTTP export configured by `telemetry.otlp` or, where that is absent,
 * by the standard `OTEL_EXPORTER_OTLP_*` variables; the resource from `OTEL_SERVICE_NAME`
 * and `OTEL_RESOURCE_ATTRIBUTES` over Palisade's own names; parent-based ratio sampling
 * whose ratio is read from the current config generation, so a reload changes it.
 * Neither configured: no tracer at all and the request path skips tracing.
 */
import {
  context,
  type Attributes,
  type Context,
  type Link,
  type SpanKind,
  type Tracer,
} from "@opentelemetry/api";
import type { Sampler, SamplingResult } from "@opentelemetry/sdk-trace-base";
import type { Config } from "../config/schema.js";

export interface Tracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

const EXPORT_TIMEOUT_MS = 5_000;

/** True when traces are exported: config, or the environment a collector setup provides. */
export function tracingConfigured(config: Config, env: Env): boolean {
  return (
    config.telemetry.otlp !== undefined ||
    Boolean(env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) ||
    Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
  );
}

/**
 * The SDK and exporter are loaded only when tracing is configured: a sidecar without it
 * never pays their memory (about 17 MiB) or start-up time. `sampleRatio` is read per root
 * span: the current generation's `telemetry.otlp.sampleRatio`.
 */
export async function createTracing(
  config: Config,
  sampleRatio: () => number,
  env: Env = process.env,
): Promise<Tracing | undefined> {
  if (!tracingConfigured(config, env)) return undefined;
  const otlp = config.telemetry.otlp;
  const [{ OTLPTraceExporter }, resources, sdk, { AsyncLocalStorageContextManager }] =
    await Promise.all([
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/context-async-hooks"),
    ]);
  // Once per process (several sidecars may share one in tests): a second registration is
  // refused by the API and changes nothing.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler } = sdk;
  const envTimeout = env["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"] ?? env["OTEL_EXPORTER_OTLP_TIMEOUT"];
  const exporter = new OTLPTraceExporter({
    // Config wins where set; the exporter reads the OTEL_EXPORTER_OTLP_* variables for the rest.
    ...(otlp ? { url: otlp.endpoint, headers: otlp.headers } : {}),
    ...(envTimeout ? {} : { timeoutMillis: EXPORT_TIMEOUT_MS }),
  });
  const provider = new BasicTracerProvider({
    // The environment's attributes win over Palisade's defaults, as the SDK specifies.
    resource: resources
      .resourceFromAttributes({
        "service.name": `palisade-${config.service}`,
        "palisade.service": config.service,
      })
      .merge(resources.detectResources({ detectors: [resources.envDetector] })),
    sampler: new ParentBasedSampler({
      root: new ReloadableRatioSampler(sampleRatio, (r) => new sdk.TraceIdRatioBasedSampler(r)),
    }),
    // Bounded everywhere: a slow or dead collector drops spans (queue full) and delays a
    // drain by at most the export timeout; it never slows the request path.
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: 500,
        maxQueueSize: 4096,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  return {
    tracer: provider.getTracer("palisade"),
    // Flushes what is queued. Spans a dead collector cannot take are lost, and that is
    // never a reason for a drain to fail.
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/**
 * The SDK's trace-id ratio sampler, remade only when the configured ratio changes: the
 * decision stays a pure function of the trace id, so sidecars with one ratio agree.
 */
export class ReloadableRatioSampler implements Sampler {
  #ratio = Number.NaN;
  #sampler: Sampler | undefined;

  constructor(
    private readonly ratio: () => number,
    private readonly make: (ratio: number) => Sampler,
  ) {}

  shouldSample(
    parent: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const ratio = this.ratio();
    if (ratio !== this.#ratio || !this.#sampler) {
      this.#ratio = ratio;
      this.#sampler = this.make(ratio);
    }
    return this.#sampler.shouldSample(parent, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `ReloadableRatioSampler{${String(this.ratio())}}`;
  }
}
