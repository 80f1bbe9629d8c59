/**
 * Tracing set up the way an OpenTelemetry collector setup expects: the standard
 * `OTEL_*` variables name the endpoint, headers, service and resource where
 * `telemetry.otlp` does not, and the root sampler follows a reloaded ratio. Spans go to a
 * real OTLP/HTTP receiver.
 */
import { ROOT_CONTEXT, SpanKind, TraceFlags } from "@opentelemetry/api";
import { TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTracing,
  exportSettings,
  ReloadableRatioSampler,
  resourceAttributes,
} from "../src/telemetry/tracing-provider.js";
import { startOtlpReceiver, type OtlpReceiver } from "./support/otlp-receiver.js";

let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver.close();
});

describe("the OTEL_* environment", () => {
  it("turns tracing on with no telemetry.otlp, and exports where it says", async () => {
    const base = receiver.endpoint.replace(/\/v1\/traces$/, "");
    const tracing = await createTracing("orders", undefined, () => 1, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `${base}/`,
      OTEL_SERVICE_NAME: "orders-eu",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=shop%20floor",
    });
    expect(tracing).toBeDefined();
    const span = tracing?.tracer.startSpan("GET /x", { kind: SpanKind.SERVER }, ROOT_CONTEXT);
    span?.end();
    await tracing?.shutdown();
    const traceId = span?.spanContext().traceId;
    await receiver.waitFor((all) => all.some((s) => s.traceId === traceId), "the span");
    const got = receiver.spans.find((s) => s.traceId === traceId);
    expect(got?.resource).toMatchObject({
      "service.name": "orders-eu",
      "palisade.service": "orders",
      "deployment.environment": "test",
      team: "shop floor",
    });
  });

  it("is off with neither config nor variables", async () => {
    expect(await createTracing("orders", undefined, () => 1, {})).toBeUndefined();
  });

  it("lets telemetry.otlp win where it says something, the variables fill in the rest", () => {
    const env = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://base:4318",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20env,x-team=shop",
      OTEL_EXPORTER_OTLP_TIMEOUT: "2500",
    };
    expect(exportSettings(undefined, env)).toEqual({
      url: "http://traces:4318/custom",
      headers: { authorization: "Bearer env", "x-team": "shop" },
      timeoutMillis: 2500,
    });
    const otlp = {
      endpoint: "http://config:4318/v1/traces",
      sampleRatio: 1,
      headers: { authorization: "Bearer config" },
    };
    expect(exportSettings(otlp, env)).toEqual({
      url: "http://config:4318/v1/traces",
      headers: { authorization: "Bearer config", "x-team": "shop" },
      timeoutMillis: 2500,
    });
    expect(exportSettings(otlp, {})?.timeoutMillis).toBe(5_000);
  });

  it("names the service palisade-<service> unless told otherwise", () => {
    expect(resourceAttributes("web", {})).toEqual({
      "service.name": "palisade-web",
      "palisade.service": "web",
    });
    // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES; bad pairs go.
    expect(
      resourceAttributes("web", {
        OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs,broken,bad=%E0%A4%A",
        OTEL_SERVICE_NAME: "from-name",
      }),
    ).toEqual({ "service.name": "from-name", "palisade.service": "web" });
  });
});

describe("the reloadable root sampler", () => {
  it("follows the current ratio without a new tracer", () => {
    let ratio = 0;
    const sampler = new ReloadableRatioSampler(
      () => ratio,
      (r) => new TraceIdRatioBasedSampler(r),
    );
    const traceIds = Array.from({ length: 50 }, (_, i) => i.toString(16).padStart(32, "a"));
    const decide = () =>
      traceIds.map(
        (id) => sampler.shouldSample(ROOT_CONTEXT, id, "GET", SpanKind.SERVER, {}, []).decision,
      );
    expect(new Set(decide())).toEqual(new Set([0])); // NOT_RECORD
    ratio = 1;
    expect(new Set(decide())).toEqual(new Set([2])); // RECORD_AND_SAMPLED
  });

  it("samples by the live ratio inside a real tracer", async () => {
    let ratio = 0;
    const tracing = await createTracing(
      "orders",
      { endpoint: receiver.endpoint, sampleRatio: 1, headers: {} },
      () => ratio,
      {},
    );
    const sampled = () => {
      const span = tracing?.tracer.startSpan("GET", {}, ROOT_CONTEXT);
      span?.end();
      return ((span?.spanContext().traceFlags ?? 0) & TraceFlags.SAMPLED) !== 0;
    };
    expect(sampled()).toBe(false);
    ratio = 1;
    expect(sampled()).toBe(true);
    await tracing?.shutdown();
  });
});
