/**
 * The per-request series, labelled as a service graph (DESIGN.md "Metrics"): who called
 * (`tenant`, `peer`), where the call went (`upstream`, outbound), and how it ended.
 * Every label value is bounded by config; the series of one label combination are resolved
 * once and observed in place (prom-series.ts), since prom-client's children hash the label
 * values again on every call.
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { Direction } from "./metrics.js";
import { CounterSeries, HistogramSeries } from "./prom-series.js";

/**
 * Fine enough below a millisecond to see proxy overhead (a denial or a cache hit answers in
 * tens of microseconds, a proxied loopback call in a few hundred), wide enough for slow
 * upstreams. Five buckets under 1 ms; 19 in all.
 */
const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];
/** Powers of four from 64 B to 64 MiB: an empty answer, a JSON document, a file. */
const BYTE_BUCKETS = Array.from({ length: 11 }, (_, i) => 64 * 4 ** i);

/** What one request's outcome adds to its series. */
export interface RequestValues {
  readonly status: number;
  readonly seconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The request's trace, kept as the latency bucket's exemplar (OpenMetrics). */
  readonly traceId: string | undefined;
}

const LABELS = ["direction", "tenant", "peer", "upstream"] as const;
type Label = (typeof LABELS)[number] | "code_class";

/** One status's series of one label combination. */
interface StatusSeries {
  count: CounterSeries;
  duration: HistogramSeries;
  /** The duration series' labels, for its exemplar (prom-client keys exemplars by labels). */
  durationLabels: Record<Label, string>;
}

/** One (direction, tenant, peer, upstream) combination: body sizes, and the rest by status. */
class Combination {
  readonly requestBytes: HistogramSeries;
  readonly responseBytes: HistogramSeries;
  readonly byStatus = new Map<number, StatusSeries>();

  constructor(
    readonly labels: Readonly<Record<(typeof LABELS)[number], string>>,
    metrics: { requestBytes: Histogram<Label>; responseBytes: Histogram<Label> },
  ) {
    this.requestBytes = new HistogramSeries(metrics.requestBytes, labels, BYTE_BUCKETS);
    this.responseBytes = new HistogramSeries(metrics.responseBytes, labels, BYTE_BUCKETS);
  }
}

/** Label value → the next level down; each level is one Map lookup of a string it already has. */
type Level<T> = Map<string, T>;

/** What prom-client's exemplar histogram has at runtime and its typings leave out. */
interface ExemplarHistogram {
  updateExemplar(labels: Record<string, string>, value: number, exemplar: object): void;
}

export class RequestMetrics {
  readonly #requests: Counter<Label | "code">;
  readonly #duration: Histogram<Label>;
  readonly #requestBytes: Histogram<Label>;
  readonly #responseBytes: Histogram<Label>;
  /**
   * direction → tenant → peer → upstream → series: the label values are looked up as the
   * strings they are, never joined into a key per request.
   */
  readonly #combinations: Record<Direction, Level<Level<Level<Combination>>>> = {
    inbound: new Map(),
    outbound: new Map(),
  };

  constructor(registry: Registry) {
    const registers = [registry];
    this.#requests = new Counter({
      name: "palisade_requests_total",
      help: "Requests answered, by direction, caller tenant, calling service, upstream and status code.",
      labelNames: [...LABELS, "code"],
      registers,
    });
    this.#duration = new Histogram({
      name: "palisade_request_duration_seconds",
      help: "Time from request start to response end, by direction, caller tenant, calling service, upstream and status class.",
      labelNames: [...LABELS, "code_class"],
      buckets: LATENCY_BUCKETS,
      enableExemplars: true,
      // prom-client refuses exemplars on a Prometheus-text registry at construction, though
      // that format merely leaves them out: registered after, they reach the OpenMetrics view.
      registers: [],
    });
    registry.registerMetric(this.#duration);
    this.#requestBytes = byteHistogram("palisade_request_bytes", "Request body bytes", registers);
    this.#responseBytes = byteHistogram(
      "palisade_response_bytes",
      "Response body bytes",
      registers,
    );
  }

  /** Drops the resolved series: a reload may have changed which values are labels. */
  reset(): void {
    this.#combinations.inbound.clear();
    this.#combinations.outbound.clear();
  }

  /** One request, its label values already bounded; `outcome` gives the values observed. */
  observe(
    direction: Direction,
    tenant: string,
    peer: string,
    upstream: string,
    outcome: RequestValues,
  ): void {
    const combination = this.#combination(direction, tenant, peer, upstream);
    const status = outcome.status;
    const series = combination.byStatus.get(status) ?? this.#statusSeries(combination, status);
    series.count.inc();
    series.duration.observe(outcome.seconds);
    combination.requestBytes.observe(outcome.bytesIn);
    combination.responseBytes.observe(outcome.bytesOut);
    if (outcome.traceId !== undefined)
      (this.#duration as unknown as ExemplarHistogram).updateExemplar(
        series.durationLabels,
        outcome.seconds,
        { trace_id: outcome.traceId },
      );
  }

  #combination(direction: Direction, tenant: string, peer: string, upstream: string): Combination {
    const byTenant = this.#combinations[direction];
    let byPeer = byTenant.get(tenant);
    if (!byPeer) byTenant.set(tenant, (byPeer = new Map<string, Level<Combination>>()));
    let byUpstream = byPeer.get(peer);
    if (!byUpstream) byPeer.set(peer, (byUpstream = new Map<string, Combination>()));
    let combination = byUpstream.get(upstream);
    if (!combination) {
      const labels = { direction, tenant, peer, upstream };
      combination = new Combination(labels, {
        requestBytes: this.#requestBytes,
        responseBytes: this.#responseBytes,
      });
      byUpstream.set(upstream, combination);
    }
    return combination;
  }

  #statusSeries(combination: Combination, status: number): StatusSeries {
    const durationLabels = { ...combination.labels, code_class: codeClass(status) };
    const series = {
      count: new CounterSeries(this.#requests, { ...combination.labels, code: String(status) }),
      duration: new HistogramSeries(this.#duration, durationLabels, LATENCY_BUCKETS),
      durationLabels,
    };
    combination.byStatus.set(status, series);
    return series;
  }
}

/** `2xx` … `5xx`; anything else (a status that never went out) is `other`. */
export function codeClass(status: number): string {
  return status >= 100 && status < 600 ? `${String(Math.floor(status / 100))}xx` : "other";
}

function byteHistogram(name: string, what: string, registers: Registry[]): Histogram<Label> {
  return new Histogram({
    name,
    help: `${what} per request, by direction, caller tenant, calling service and upstream.`,
    labelNames: [...LABELS],
    buckets: BYTE_BUCKETS,
    registers,
  });
}
