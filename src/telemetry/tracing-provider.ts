/**
 * The tracer: OTLP/HTTP export configured by `telemetry.otlp` or, where that is absent,
 * by the standard `OTEL_EXPORTER_OTLP_*` variables; the resource from `OTEL_SERVICE_NAME`
 * and `OTEL_RESOURCE_ATTRIBUTES` over Palisade's own names; parent-based ratio sampling
 * whose ratio is read from the current config generation, so a reload changes it.
 * Neither configured: no tracer at all and the request path skips tracing.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  type Attributes,
  type Context,
  type Link,
  type Tracer,
} from "@opentelemetry/api";
import type { Sampler, SamplingResult } from "@opentelemetry/sdk-trace-base";
import type { Config } from "../config/schema.js";
import { propagation } from "./propagators.js";
import { TraceIds } from "./trace-ids.js";

type OtlpConfig = Config["telemetry"]["otlp"];

export interface Tracing {
  tracer: Tracer;
  /** The tracer's ids: the request path draws a root request's trace id from them. */
  ids: TraceIds;
  /**
   * The root sampler's decision for a trace this sidecar starts, as the tracer itself
   * would make it for that trace id (the current ratio; a pure function of the id).
   */
  sampleRoot(traceId: string): boolean;
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

const EXPORT_TIMEOUT_MS = 5_000;

/** Where and how spans are exported: `telemetry.otlp` where set, else the environment. */
export interface ExportSettings {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
}

/**
 * The OTLP/HTTP exporter's settings by the OpenTelemetry environment specification
 * (`_TRACES_` variants first; a base endpoint gets `/v1/traces`), with `telemetry.otlp`
 * winning where it says something. Undefined: tracing is off.
 */
export function exportSettings(otlp: OtlpConfig, env: Env): ExportSettings | undefined {
  const traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];
  const base = env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  const envUrl = traces || (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  const url = otlp?.endpoint ?? envUrl;
  if (url === undefined) return undefined;
  const headers = {
    ...keyValues(env["OTEL_EXPORTER_OTLP_HEADERS"]),
    ...keyValues(env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]),
    ...otlp?.headers,
  };
  const timeout = Number(
    env["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"] ?? env["OTEL_EXPORTER_OTLP_TIMEOUT"],
  );
  return {
    url,
    headers,
    timeoutMillis: Number.isFinite(timeout) && timeout > 0 ? timeout : EXPORT_TIMEOUT_MS,
  };
}

/**
 * Palisade's resource names under the environment's: `OTEL_RESOURCE_ATTRIBUTES` over them,
 * `OTEL_SERVICE_NAME` over both (the SDK's order of precedence).
 */
export function resourceAttributes(service: string, env: Env): Record<string, string> {
  const serviceName = env["OTEL_SERVICE_NAME"];
  return {
    "service.name": `palisade-${service}`,
    "palisade.service": service,
    ...keyValues(env["OTEL_RESOURCE_ATTRIBUTES"]),
    ...(serviceName ? { "service.name": serviceName } : {}),
  };
}

/** `k1=v1,k2=v2` with percent-encoded values (the W3C Baggage form the variables use). */
function keyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    try {
      out[pair.slice(0, eq).trim()] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      // A malformed escape: that pair is left out, as the SDK does.
    }
  }
  return out;
}

/**
 * The SDK and exporter are loaded only when tracing is configured: a sidecar without it
 * never pays their memory (about 17 MiB) or start-up time. `sampleRatio` is read per root
 * span: the current generation's `telemetry.otlp.sampleRatio`.
 */
export async function createTracing(
  service: string,
  otlp: OtlpConfig,
  sampleRatio: () => number,
  env: Env = process.env,
): Promise<Tracing | undefined> {
  const settings = exportSettings(otlp, env);
  if (!settings) return undefined;
  const [{ OTLPTraceExporter }, resources, sdk, { AsyncLocalStorageContextManager }] =
    await Promise.all([
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/context-async-hooks"),
    ]);
  // Loaded now, with the SDK, rather than by the first request that needs them.
  propagation();
  // Once per process (several sidecars may share one in tests): a second registration is
  // refused by the API and changes nothing.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler } = sdk;
  const exporter = new OTLPTraceExporter(settings);
  const root = new ReloadableRatioSampler(sampleRatio, (r) => new sdk.TraceIdRatioBasedSampler(r));
  const ids = new TraceIds();
  const provider = new BasicTracerProvider({
    resource: resources.resourceFromAttributes(resourceAttributes(service, env)),
    idGenerator: ids,
    sampler: new ParentBasedSampler({ root }),
    // Bounded everywhere: a slow or dead collector drops spans (queue full) and delays a
    // drain by at most the export timeout; it never slows the request path.
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: 500,
        maxQueueSize: 4096,
        exportTimeoutMillis: settings.timeoutMillis,
      }),
    ],
  });
  return {
    tracer: provider.getTracer("palisade"),
    ids,
    sampleRoot: (traceId) => root.sampled(traceId),
    // Flushes what is queued. Spans a dead collector cannot take are lost, and that is
    // never a reason for a drain to fail.
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

const NONE: Attributes = Object.freeze({});
const NO_LINKS: Link[] = [];
/** SamplingDecision.NOT_RECORD, without loading the SDK to name it. */
const NOT_RECORD = 0;

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

  /** The decision for a root span of this trace id (the ratio sampler reads nothing else). */
  sampled(traceId: string): boolean {
    // The SDK's sampler never samples at 0 (or NaN); no need to ask it, as most configs say 0.
    if (!(this.ratio() > 0)) return false;
    const { decision } = this.shouldSample(
      ROOT_CONTEXT,
      traceId,
      "",
      SpanKind.SERVER,
      NONE,
      NO_LINKS,
    );
    return (decision as number) !== NOT_RECORD;
  }

  toString(): string {
    return `ReloadableRatioSampler{${String(this.ratio())}}`;
  }
}
