/**
 * The in-process alert sinks: log line, metrics callbacks, trace event, and the fan-out
 * that isolates them from each other. Each is a few cheap calls; the network sinks live
 * in alertmanager.ts and webhook.ts behind a delivery queue.
 */
import type { Attributes, Tracer } from "@opentelemetry/api";
import { trace } from "@opentelemetry/api";
import { describeAlert, type AlertSink, type AnomalyAlert } from "./alert.js";

/** The slice of a pino logger the sinks use. */
export interface AlertLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Mapped by the metrics module onto `palisade_anomaly_alerts_total` / `palisade_anomaly_active`. */
export interface AnomalyMetrics {
  alertFired(tenant: string, kind: string): void;
  setActive(tenant: string, kind: string, value: 0 | 1): void;
}

function logFields(alert: AnomalyAlert, status: "firing" | "resolved"): object {
  return {
    event: "anomaly_alert",
    status,
    tenant: alert.tenant,
    kind: alert.kind,
    observed: alert.observed,
    threshold: alert.threshold,
    baselineBar: alert.baselineBar,
    windowMs: alert.windowMs,
    startsAt: new Date(alert.startsAt).toISOString(),
    ...(alert.endsAt !== undefined ? { endsAt: new Date(alert.endsAt).toISOString() } : {}),
    ...(alert.targets ? { targets: alert.targets } : {}),
    ...(alert.requestId !== undefined ? { requestId: alert.requestId } : {}),
  };
}

export function logSink(logger: AlertLogger): AlertSink {
  return {
    fired: (alert) => logger.warn(logFields(alert, "firing"), describeAlert(alert)),
    resolved: (alert) => logger.info(logFields(alert, "resolved"), "anomaly alert resolved"),
  };
}

export function metricsSink(metrics: AnomalyMetrics): AlertSink {
  return {
    fired: (alert) => {
      metrics.alertFired(alert.tenant, alert.kind);
      metrics.setActive(alert.tenant, alert.kind, 1);
    },
    resolved: (alert) => metrics.setActive(alert.tenant, alert.kind, 0),
  };
}

/**
 * Marks the firing on the request span that tipped it (record() runs in that span's
 * context). Without an active span, and given a tracer, a short span of its own stands in.
 * Resolution happens on a timer, outside any request, so it only gets its own span.
 */
export function traceSink(tracer?: Tracer): AlertSink {
  const emit = (name: string, alert: AnomalyAlert, allowActive: boolean) => {
    const attributes: Attributes = {
      "tenant.id": alert.tenant,
      "palisade.anomaly.kind": alert.kind,
      "palisade.anomaly.observed": alert.observed,
    };
    const active = allowActive ? trace.getActiveSpan() : undefined;
    if (active !== undefined) return void active.addEvent(name, attributes);
    if (tracer !== undefined) tracer.startSpan(name, { attributes }).end();
  };
  return {
    fired: (alert) => emit("palisade.anomaly.fired", alert, true),
    resolved: (alert) => emit("palisade.anomaly.resolved", alert, false),
  };
}

/** Calls every sink; one throwing does not starve the others. */
export function fanOut(sinks: () => Iterable<AlertSink>, onError: (e: unknown) => void): AlertSink {
  const each = (call: (sink: AlertSink) => void) => {
    for (const sink of sinks()) {
      try {
        call(sink);
      } catch (error) {
        onError(error);
      }
    }
  };
  return {
    fired: (alert) => each((sink) => sink.fired(alert)),
    resolved: (alert) => each((sink) => sink.resolved(alert)),
  };
}
