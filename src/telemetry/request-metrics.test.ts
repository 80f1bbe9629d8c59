import { describe, expect, it } from "vitest";
import { renderMetrics } from "../admin/exposition.js";
import { Metrics, type RequestOutcome } from "./metrics.js";
import { codeClass } from "./request-metrics.js";

const TRACE = "0af7651916cd43dd8448eb211c80319c";

function outcome(over: Partial<RequestOutcome> = {}): RequestOutcome {
  return {
    direction: "inbound",
    tenant: "acme",
    peer: "web",
    upstream: undefined,
    status: 200,
    seconds: 0.002,
    bytesIn: 0,
    bytesOut: 0,
    traceId: undefined,
    ...over,
  };
}

function metricsFor(peers: string[]): Metrics {
  const metrics = new Metrics("orders");
  metrics.setTenants(["acme"]);
  metrics.setPeers(peers);
  return metrics;
}

describe("request metrics", () => {
  it("labels a named calling service by name and any other as unknown", async () => {
    const metrics = metricsFor(["web"]);
    metrics.request(outcome());
    metrics.request(outcome({ peer: "invented-1" }));
    metrics.request(outcome({ peer: "invented-2" }));
    // A reload that stops naming `web` stops labelling it.
    metrics.setPeers([]);
    metrics.request(outcome());
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'palisade_requests_total{direction="inbound",tenant="acme",peer="web",upstream="",code="200",workload="orders"} 1',
    );
    expect(text).toContain(
      'palisade_requests_total{direction="inbound",tenant="acme",peer="unknown",upstream="",code="200",workload="orders"} 3',
    );
    expect(text).not.toContain("invented");
  });

  it("labels outbound calls with this service as peer and the upstream key", async () => {
    const metrics = metricsFor([]);
    metrics.request(outcome({ direction: "outbound", peer: undefined, upstream: "billing" }));
    metrics.request(outcome({ direction: "outbound", peer: undefined, status: 404 }));
    const text = await metrics.registry.metrics();
    expect(text).toContain('direction="outbound",tenant="acme",peer="orders",upstream="billing"');
    expect(text).toContain(
      'direction="outbound",tenant="acme",peer="orders",upstream="unknown",code="404"',
    );
  });

  it("counts body bytes in and out per request", async () => {
    const metrics = metricsFor(["web"]);
    metrics.request(outcome({ bytesIn: 100, bytesOut: 5000 }));
    metrics.request(outcome({ bytesIn: 300, bytesOut: 0 }));
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^palisade_request_bytes_sum\{[^}]*peer="web"[^}]*\} 400$/m);
    expect(text).toMatch(/^palisade_response_bytes_sum\{[^}]*peer="web"[^}]*\} 5000$/m);
    expect(text).toMatch(/^palisade_response_bytes_bucket\{le="64",[^}]*\} 1$/m);
  });

  it("keeps the trace id as the latency bucket's exemplar, in OpenMetrics only", async () => {
    const metrics = metricsFor(["web"]);
    metrics.request(outcome({ traceId: TRACE, seconds: 0.002 }));
    const open = await renderMetrics(
      metrics.registry,
      "application/openmetrics-text",
      metrics.defaultLabels,
    );
    const bucket = open.body
      .split("\n")
      .find((l) => l.startsWith('palisade_request_duration_seconds_bucket{le="0.0025"'));
    expect(bucket).toMatch(
      new RegExp(`code_class="2xx".*\\} 1 # \\{trace_id="${TRACE}"\\} 0\\.002 \\d+(\\.\\d+)?$`),
    );
    // The view carries the registry's default label too.
    expect(bucket).toContain('workload="orders"');
    const text = await renderMetrics(metrics.registry, undefined);
    expect(text.body).not.toContain(TRACE);
    expect(text.body).toContain("palisade_requests_total{");
  });

  it.each([
    [200, "2xx"],
    [204, "2xx"],
    [301, "3xx"],
    [403, "4xx"],
    [499, "4xx"],
    [504, "5xx"],
    [0, "other"],
    [600, "other"],
  ])("status %d is class %s", (status, cls) => {
    expect(codeClass(status)).toBe(cls);
  });
});
