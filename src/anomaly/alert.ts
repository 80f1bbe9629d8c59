/**
 * The anomaly vocabulary: what the proxy reports (`SuspiciousEvent`), what the detector
 * raises (`AnomalyAlert`), and where alerts go (`AlertSink`). Names here are public: they
 * become the `kind` label of `palisade_anomaly_*` metrics and of Alertmanager alerts.
 */

/** Refusals and failures the proxy reports, one per request or handshake. */
export const SUSPICIOUS_EVENT_KINDS = [
  "cross_tenant_denied",
  "tenant_context_mismatch",
  "spoofed_header",
  "tenant_context_invalid",
  "handshake_failure",
] as const;
export type SuspiciousEventKind = (typeof SUSPICIOUS_EVENT_KINDS)[number];

export interface SuspiciousEvent {
  /** Caller tenant label: a configured tenant or "unknown". */
  readonly tenant: string;
  readonly kind: SuspiciousEventKind;
  /** Target tenant label, when the request named one. */
  readonly target?: string;
  readonly requestId?: string;
}

export const ALERT_KINDS = [
  "denial_burst",
  "target_probing",
  "context_spoofing",
  "handshake_failures",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** One (tenant, kind) alert. Immutable: resolving makes a copy with `endsAt`. */
export interface AnomalyAlert {
  readonly tenant: string;
  readonly kind: AlertKind;
  /** Epoch ms, from the detector's clock. */
  readonly startsAt: number;
  /** Epoch ms; present once resolved. */
  readonly endsAt?: number;
  /** Windowed event count (distinct targets, for probing) when it fired. */
  readonly observed: number;
  /** The absolute bar: `threshold`, or `probeTargets` for probing. */
  readonly threshold: number;
  /** The tenant's own baseline (events per window) times `baselineFactor`, when it fired. */
  readonly baselineBar: number;
  readonly windowMs: number;
  /** Targets refused in the window, for probing (bounded by `probeTargets`). */
  readonly targets?: readonly string[];
  /** The request that tipped it over, to find in the audit log. */
  readonly requestId?: string;
}

/**
 * Where alerts go. Called synchronously from `record()` (so a span event lands on the
 * request's span), hence every sink must be cheap and must not block: network sinks only
 * enqueue. A sink that throws is isolated by the detector.
 */
export interface AlertSink {
  fired(alert: AnomalyAlert): void;
  resolved(alert: AnomalyAlert): void;
}

export const ALERT_SUMMARY: Record<AlertKind, string> = {
  denial_burst: "burst of cross-tenant denials",
  target_probing: "refused for many distinct target tenants",
  context_spoofing: "spoofed or invalid tenant context",
  handshake_failures: "burst of TLS handshake failures",
};

/** One line for humans; the same text in logs, Alertmanager and webhooks. */
export function describeAlert(alert: AnomalyAlert): string {
  const seconds = Math.round(alert.windowMs / 1000);
  const what = alert.kind === "target_probing" ? "distinct targets refused" : "events";
  const targets = alert.targets ? ` (targets: ${alert.targets.join(", ")})` : "";
  return (
    `Caller tenant ${alert.tenant}: ${alert.observed.toFixed(0)} ${what} in ${seconds}s, ` +
    `over the threshold ${alert.threshold} and the tenant's baseline bar ` +
    `${alert.baselineBar.toFixed(1)}${targets}.`
  );
}
