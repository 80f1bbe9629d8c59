/**
 * The per-request series, labelled as a service graph (DESIGN.md "Metrics"): who called
 * (`tenant`, `peer`), where the call went (`upstream`, outbound), and how it ended.
 * Every label value is bounded by config; the children of one label combination are
 * resolved once and cached, since prom-client hashes label values on every call.
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { Direction } from "./metrics.js";

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

/** One request's outcome, with every label value already bounded. */
export interface RequestSample {
  readonly direction: Direction;
  readonly tenant: string;
  readonly peer: string;
  readonly upstream: string;
  readonly status: number;
  readonly seconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The request's trace, kept as the latency bucket's exemplar (OpenMetrics). */
  readonly traceId: string | undefined;
}

const LABELS = ["direction", "tenant", "peer", "upstream"] as const;
type Label = (typeof LABELS)[number] | "code_class";

interface Children {
  count: Counter.Internal;
  duration: Histogram.Internal<Label>;
  /** The duration child's labels, for its exemplar (prom-client keys exemplars by labels). */
  durationLabels: Record<Label, string>;
  requestBytes: Histogram.Internal<Label>;
  responseBytes: Histogram.Internal<Label>;
}

/** What prom-client's exemplar histogram has at runtime and its typings leave out. */
interface ExemplarHistogram {
  updateExemplar(labels: Record<string, string>, value: number, exemplar: object): void;
}

export class RequestMetrics {
  readonly #requests: Counter<Label | "code">;
  readonly #duration: Histogram<Label>;
  readonly #requestBytes: Histogram<Label>;
  readonly #responseBytes: Histogram<Label>;
  readonly #children = new Map<string, Children>();

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

  /** Drops the cached children: a reload may have changed which values are labels. */
  reset(): void {
    this.#children.clear();
  }

  observe(sample: RequestSample): void {
    const { direction, tenant, peer, upstream, status } = sample;
    const key = `${direction}\0${tenant}\0${peer}\0${upstream}\0${String(status)}`;
    let children = this.#children.get(key);
    if (!children) {
      children = this.#resolve(sample);
      this.#children.set(key, children);
    }
    children.count.inc();
    children.duration.observe(sample.seconds);
    children.requestBytes.observe(sample.bytesIn);
    children.responseBytes.observe(sample.bytesOut);
    if (sample.traceId !== undefined)
      (this.#duration as unknown as ExemplarHistogram).updateExemplar(
        children.durationLabels,
        sample.seconds,
        { trace_id: sample.traceId },
      );
  }

  #resolve(sample: RequestSample): Children {
    const labels = {
      direction: sample.direction,
      tenant: sample.tenant,
      peer: sample.peer,
      upstream: sample.upstream,
      code_class: codeClass(sample.status),
    };
    const { code_class: _, ...base } = labels;
    return {
      count: this.#requests.labels({ ...base, code: String(sample.status) }),
      duration: this.#duration.labels(labels),
      durationLabels: labels,
      requestBytes: this.#requestBytes.labels(base),
      responseBytes: this.#responseBytes.labels(base),
    };
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
