/** Facts from DESIGN.md and the CI environment that several tests check against. */

/** DESIGN.md, "Telemetry". Keep in step with it. */
export const DESIGN_METRICS = [
  "palisade_requests_total",
  "palisade_request_duration_seconds",
  "palisade_cross_tenant_denied_total",
  "palisade_cross_tenant_granted_total",
  "palisade_cache_requests_total",
  "palisade_cache_bytes",
  "palisade_cache_evictions_total",
  "palisade_tls_handshake_failures_total",
  "palisade_anomaly_alerts_total",
  "palisade_anomaly_active",
  "palisade_cert_expiry_timestamp_seconds",
  "palisade_config_reloads_total",
  // "Contract additions (second round)", Metrics.
  "palisade_build_info",
  "palisade_request_bytes",
  "palisade_response_bytes",
];

/** In CI a missing Prometheus or Alertmanager is a failure; on a laptop, a skip. */
export const CI = !["", "0", "false"].includes(process.env["CI"] ?? "");
