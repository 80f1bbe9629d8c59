/**
 * Alertmanager sink (API v2). Firing alerts carry an `endsAt` a few re-send intervals
 * ahead and are re-sent every interval, as Prometheus does: if this sidecar dies, its
 * alerts expire on their own instead of depending on the receiver's `resolve_timeout`.
 * Resolving sends the same labels with `endsAt` = now.
 */
import {
  ALERT_SUMMARY,
  describeAlert,
  type AlertKind,
  type AlertSink,
  type AnomalyAlert,
} from "./alert.js";
import type { DeliveryQueue, DeliveryStats } from "./delivery-queue.js";

export const ALERTNAME = "PalisadeCrossTenantAnomaly";

const SEVERITY: Record<AlertKind, "warning" | "critical"> = {
  denial_burst: "warning",
  handshake_failures: "warning",
  // Forged context or sweeping other tenants is an attack, not a misconfiguration.
  context_spoofing: "critical",
  target_probing: "critical",
};

/** Where an alert comes from. `instance` keeps two pods' alerts apart in Alertmanager. */
export interface AlertSource {
  readonly service: string;
  /** The pod (hostname): without it one pod resolving would end another pod's alert. */
  readonly instance: string;
  readonly generatorURL: string;
}

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

export interface AlertmanagerSinkOptions {
  /** Base URL, e.g. `http://alertmanager:9093`; a path prefix is kept. */
  readonly url: string;
  readonly source: AlertSource;
  readonly queue: DeliveryQueue;
  /** Default 60s; firing alerts expire after four missed re-sends. */
  readonly resendIntervalMs?: number;
}

export function alertmanagerEndpoint(base: string): string {
  return new URL("api/v2/alerts", base.endsWith("/") ? base : `${base}/`).href;
}

export function toPostableAlert(
  alert: AnomalyAlert,
  source: AlertSource,
  now: number,
  expiryMs: number,
): PostableAlert {
  const request = alert.requestId !== undefined ? ` Tipping request: ${alert.requestId}.` : "";
  return {
    labels: {
      alertname: ALERTNAME,
      tenant: alert.tenant,
      kind: alert.kind,
      service: source.service,
      instance: source.instance,
      severity: SEVERITY[alert.kind],
    },
    annotations: {
      summary: `Tenant ${alert.tenant} at ${source.service}: ${ALERT_SUMMARY[alert.kind]}`,
      description: describeAlert(alert) + request,
    },
    startsAt: new Date(alert.startsAt).toISOString(),
    endsAt: new Date(alert.endsAt ?? now + expiryMs).toISOString(),
    generatorURL: source.generatorURL,
  };
}

export class AlertmanagerSink implements AlertSink {
  private readonly firing = new Map<string, AnomalyAlert>();
  private readonly endpoint: string;
  private readonly expiryMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: AlertmanagerSinkOptions) {
    this.endpoint = alertmanagerEndpoint(options.url);
    // Alertmanager rejects a whole batch over one malformed generatorURL; fail at setup.
    new URL(options.source.generatorURL);
    const interval = options.resendIntervalMs ?? 60_000;
    this.expiryMs = 4 * interval;
    this.timer = setInterval(() => this.resend(), interval).unref();
  }

  fired(alert: AnomalyAlert): void {
    this.firing.set(key(alert), alert);
    this.send(() => [alert]);
  }

  resolved(alert: AnomalyAlert): void {
    this.firing.delete(key(alert));
    this.send(() => [alert]);
  }

  /** Re-sends every firing alert; rendered from live state so a resolved one is left out. */
  resend(): void {
    if (this.firing.size > 0) this.send(() => [...this.firing.values()]);
  }

  stats(): DeliveryStats {
    return this.options.queue.stats();
  }

  close(deadlineMs: number): Promise<number> {
    clearInterval(this.timer);
    return this.options.queue.close(deadlineMs);
  }

  private send(alerts: () => AnomalyAlert[]): void {
    const { source } = this.options;
    this.options.queue.push({
      url: this.endpoint,
      render: (now) => ({
        body: JSON.stringify(alerts().map((a) => toPostableAlert(a, source, now, this.expiryMs))),
        headers: {},
      }),
    });
  }
}

const key = (alert: AnomalyAlert) => `${alert.tenant}\u0000${alert.kind}`;
