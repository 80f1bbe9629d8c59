/**
 * Wires the anomaly module from one config generation: the detector, the in-process
 * sinks, and one delivery queue per network sink. This is what the sidecar constructs;
 * the proxy only ever calls `record()`.
 */
import { hostname } from "node:os";
import type { Tracer } from "@opentelemetry/api";
import type { AnomalyConfig } from "../config/schema.js";
import type { AlertSink, SuspiciousEvent } from "./alert.js";
import { AlertmanagerSink } from "./alertmanager.js";
import {
  DeliveryQueue,
  type DeliveryQueueOptions,
  type DeliveryStats,
  type DropReason,
} from "./delivery-queue.js";
import { AnomalyDetector } from "./detector.js";
import {
  fanOut,
  logSink,
  metricsSink,
  traceSink,
  type AlertLogger,
  type AnomalyMetrics,
} from "./sinks.js";
import { WebhookSink } from "./webhook.js";

export type NetworkSinkName = "alertmanager" | "webhook";

export interface AnomalyAlertingDeps {
  /** `service` from the config: a label on every alert. */
  readonly service: string;
  readonly logger: AlertLogger;
  readonly metrics: AnomalyMetrics;
  /** Deliveries given up; proposed `palisade_anomaly_deliveries_dropped_total{sink,reason}`. */
  readonly deliveryDropped?: (sink: NetworkSinkName, reason: DropReason) => void;
  /** Spans for alerts raised outside a request (resolutions). No-op without an SDK. */
  readonly tracer?: Tracer;
  /** Pod name; default the hostname, which Kubernetes sets to the pod name. */
  readonly instance?: string;
  /** Link shown in Alertmanager; default `urn:palisade:<service>`. */
  readonly generatorURL?: string;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly tickIntervalMs?: number;
  readonly resendIntervalMs?: number;
  readonly delivery?: Pick<
    DeliveryQueueOptions,
    "timeoutMs" | "maxAttempts" | "backoffBaseMs" | "backoffMaxMs" | "dispatcher"
  >;
}

interface NetworkSink extends AlertSink {
  stats(): DeliveryStats;
  close(deadlineMs: number): Promise<number>;
}

interface Installed {
  /** What the sink was built from; a reload that changes it rebuilds the sink. */
  readonly fingerprint: string;
  readonly sink: NetworkSink;
}

/** Deadline for flushing a sink that a reload replaced. */
const REPLACED_SINK_DEADLINE_MS = 5_000;

export class AnomalyAlerting {
  readonly detector: AnomalyDetector;
  private readonly local: AlertSink[];
  private readonly network = new Map<NetworkSinkName, Installed>();
  private sinks: AlertSink[] = [];
  private readonly instance: string;

  constructor(
    config: AnomalyConfig,
    private readonly deps: AnomalyAlertingDeps,
  ) {
    this.instance = deps.instance ?? hostname();
    this.local = [logSink(deps.logger), metricsSink(deps.metrics), traceSink(deps.tracer)];
    const onError = (error: unknown) =>
      deps.logger.warn({ event: "anomaly_error", err: String(error) }, "anomaly alerting error");
    this.detector = new AnomalyDetector({
      settings: config,
      sink: fanOut(() => this.sinks, onError),
      onError,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.tickIntervalMs !== undefined ? { tickIntervalMs: deps.tickIntervalMs } : {}),
    });
    this.installNetworkSinks(config);
  }

  /** The request path's only call: O(1), no I/O, never throws. */
  record(event: SuspiciousEvent): void {
    this.detector.record(event);
  }

  /** Applies a new config generation; sinks whose endpoint changed are rebuilt. */
  reconfigure(config: AnomalyConfig): void {
    this.detector.reconfigure(config);
    this.installNetworkSinks(config);
  }

  /** Queue depth and counters per network sink, for /readyz-style introspection and tests. */
  deliveryStats(): Partial<Record<NetworkSinkName, DeliveryStats>> {
    const stats: Partial<Record<NetworkSinkName, DeliveryStats>> = {};
    for (const [name, { sink }] of this.network) stats[name] = sink.stats();
    return stats;
  }

  /** Stops detecting and flushes queued deliveries until the deadline. */
  async close(deadlineMs: number): Promise<void> {
    this.detector.close();
    const closing = [...this.network.values()].map(({ sink }) => sink.close(deadlineMs));
    this.network.clear();
    this.sinks = [...this.local];
    await Promise.all(closing);
  }

  private installNetworkSinks(config: AnomalyConfig): void {
    const am = config.alertmanager;
    this.install("alertmanager", am && `${am} ${config.queueSize}`, () => {
      const source = {
        service: this.deps.service,
        instance: this.instance,
        generatorURL:
          this.deps.generatorURL ?? `urn:palisade:${encodeURIComponent(this.deps.service)}`,
      };
      const queue = this.queue("alertmanager", config.queueSize);
      const resend = this.deps.resendIntervalMs;
      return new AlertmanagerSink({
        url: am as string,
        source,
        queue,
        ...(resend !== undefined ? { resendIntervalMs: resend } : {}),
      });
    });
    const hook = config.webhook;
    this.install("webhook", hook && `${hook.url} ${hook.secret} ${config.queueSize}`, () => {
      const { url, secret } = hook as NonNullable<typeof hook>;
      const queue = this.queue("webhook", config.queueSize);
      return new WebhookSink({
        url,
        secret,
        service: this.deps.service,
        instance: this.instance,
        queue,
      });
    });
    this.sinks = [...this.local, ...[...this.network.values()].map((n) => n.sink)];
  }

  private install(
    name: NetworkSinkName,
    fingerprint: string | undefined,
    build: () => NetworkSink,
  ): void {
    const current = this.network.get(name);
    if (current?.fingerprint === fingerprint) return;
    // Build before retiring the old sink: if building throws, the old one keeps working.
    const sink = fingerprint === undefined ? undefined : build();
    if (current) void current.sink.close(REPLACED_SINK_DEADLINE_MS).catch(() => 0);
    this.network.delete(name);
    if (sink === undefined || fingerprint === undefined) return;
    // A new receiver has not heard of the alerts already firing.
    for (const alert of this.detector.activeAlerts()) sink.fired(alert);
    this.network.set(name, { fingerprint, sink });
  }

  private queue(name: NetworkSinkName, capacity: number): DeliveryQueue {
    const { deps } = this;
    return new DeliveryQueue({
      ...deps.delivery,
      capacity,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.random ? { random: deps.random } : {}),
      onDropped: (reason, error) => {
        deps.deliveryDropped?.(name, reason);
        if (reason === "closed") return;
        const fields = {
          event: "anomaly_delivery_dropped",
          sink: name,
          reason,
          // A thrown value of any shape: String() is the description wanted, as in onError.
          // eslint-disable-next-line @typescript-eslint/no-base-to-string
          ...(error !== undefined ? { err: String(error) } : {}),
        };
        deps.logger.warn(fields, `anomaly alert delivery to ${name} dropped`);
      },
    });
  }
}

export function createAnomalyAlerting(
  config: AnomalyConfig,
  deps: AnomalyAlertingDeps,
): AnomalyAlerting {
  return new AnomalyAlerting(config, deps);
}
