/**
 * Prometheus metrics (DESIGN.md "Telemetry"). One registry per sidecar, no globals.
 * `tenant` and `target` labels only ever carry configured tenants, everything else is
 * `unknown`, so a flood of invented tenant ids cannot grow the series count.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { UNKNOWN_TENANT } from "../tenancy/tenant-id.js";
import { ALERT_KINDS } from "../anomaly/alert.js";
import { packageVersion } from "../version.js";
import { CounterPairs } from "./prom-series.js";
import { RequestMetrics, type RequestValues } from "./request-metrics.js";

export type Direction = "inbound" | "outbound";
export type CacheResult = "hit" | "miss" | "bypass";
/** What an audit-mode grant would have done (DESIGN.md "Policy rollout"). */
export type PolicyAuditResult = "would_allow";

/** A request as the record tells it: label values not yet bounded. */
export interface RequestOutcome extends RequestValues {
  readonly direction: Direction;
  readonly tenant: string | undefined;
  /** The calling service (inbound: from the peer's SVID). */
  readonly peer: string | undefined;
  readonly upstream: string | undefined;
}

export type Http2CloseReason =
  "rapid_reset" | "continuation_flood" | "invalid_frames" | "protocol_error";

/** DESIGN.md: `palisade_tunnels_open{tenant,kind}`; WebSocket over HTTP/1.1 or HTTP/2 alike. */
export type TunnelKind = "websocket" | "connect";

export class Metrics {
  readonly registry = new Registry();
  #tenants: ReadonlySet<string> = new Set();

  readonly #requests = new RequestMetrics(this.registry);
  /** Calling services that may be `peer` label values: config names them all. */
  #peers: ReadonlySet<string> = new Set();
  readonly #service: string;
  /** Labels every series carries, applied by the registry as it renders. */
  readonly defaultLabels: Readonly<Record<string, string>>;
  readonly #denied = new Counter({
    name: "palisade_cross_tenant_denied_total",
    help: "Requests refused by the isolation checks, by caller tenant, target tenant and reason.",
    labelNames: ["direction", "tenant", "target", "reason"] as const,
    registers: [this.registry],
  });
  readonly #granted = new Counter({
    name: "palisade_cross_tenant_granted_total",
    help: "Cross-tenant requests allowed by a grant.",
    labelNames: ["tenant", "target"] as const,
    registers: [this.registry],
  });
  /** Per request on a cached route or a granted call: resolved once per label pair. */
  readonly #grantedSeries = new CounterPairs(this.#granted, ["tenant", "target"]);
  readonly #policyAudit = new Counter({
    name: "palisade_policy_audit_total",
    help: "Requests an audit-mode grant matched, by caller tenant, target tenant and result; the decision itself is unchanged.",
    labelNames: ["tenant", "target", "result"] as const,
    registers: [this.registry],
  });
  readonly #cacheRequests = new Counter({
    name: "palisade_cache_requests_total",
    help: "Cache lookups on cached routes, by tenant and result.",
    labelNames: ["tenant", "result"] as const,
    registers: [this.registry],
  });
  readonly #cacheSeries = new CounterPairs(this.#cacheRequests, ["tenant", "result"]);
  readonly #cacheBytes = new Gauge({
    name: "palisade_cache_bytes",
    help: "Bytes held in each tenant's cache partition.",
    labelNames: ["tenant"] as const,
    registers: [this.registry],
  });
  readonly #cacheEvictions = new Counter({
    name: "palisade_cache_evictions_total",
    help: "Entries evicted from a tenant's cache partition to make room.",
    labelNames: ["tenant"] as const,
    registers: [this.registry],
  });
  readonly #handshakeFailures = new Counter({
    name: "palisade_tls_handshake_failures_total",
    help: "Inbound TLS connections refused, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #tunnelsOpen = new Gauge({
    name: "palisade_tunnels_open",
    help: "Tunnels open (WebSocket upgrades), by caller tenant and kind.",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });
  readonly #tunnelBytes = new Counter({
    name: "palisade_tunnel_bytes_total",
    help: "Bytes carried by tunnels, both directions, by caller tenant and kind.",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });
  readonly #http2Closed = new Counter({
    name: "palisade_http2_sessions_closed_total",
    help: "Inbound HTTP/2 sessions closed for abuse or protocol errors, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #anomalyAlerts = new Counter({
    name: "palisade_anomaly_alerts_total",
    help: "Anomaly alerts fired, by caller tenant and kind.",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });
  readonly #anomalyActive = new Gauge({
    name: "palisade_anomaly_active",
    help: "1 while an anomaly alert is firing for the caller tenant and kind.",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });
  readonly #certExpiry = new Gauge({
    name: "palisade_cert_expiry_timestamp_seconds",
    help: "Expiry (Unix time) of each tenant's certificate.",
    labelNames: ["tenant"] as const,
    registers: [this.registry],
  });
  readonly #reloads = new Counter({
    name: "palisade_config_reloads_total",
    help: "Config reloads, by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  constructor(service: string) {
    this.#service = service;
    this.#peers = new Set([service]);
    // Not `service`: Prometheus Operator sets a `service` target label, and a scrape would
    // rename ours to `exported_service`.
    this.defaultLabels = { workload: service };
    this.registry.setDefaultLabels(this.defaultLabels);
    // The standard names (`process_*`, `nodejs_*`) that the usual runtime dashboards query.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "palisade_build_info",
      help: "1, labelled with the running Palisade and Node.js versions.",
      labelNames: ["version", "node_version"] as const,
      registers: [this.registry],
    })
      .labels(packageVersion(), process.versions.node)
      .set(1);
    for (const result of ["success", "failure"]) this.#reloads.labels(result).inc(0);
  }

  /**
   * Called when a config generation loads: the tenants whose names may appear as labels.
   * A removed tenant's gauges go (a stale "alert active" or expiry would mislead), and
   * anomaly alert counters start at 0 for every tenant and kind: an alert typically fires
   * once, and a series that first appears at 1 has an `increase()` of 0 in Prometheus.
   */
  setTenants(tenants: Iterable<string>): void {
    const next = new Set(tenants);
    for (const tenant of this.#tenants) {
      if (next.has(tenant)) continue;
      this.#cacheBytes.remove(tenant);
      this.#certExpiry.remove(tenant);
      for (const kind of ALERT_KINDS) {
        this.#anomalyAlerts.remove(tenant, kind);
        this.#anomalyActive.remove(tenant, kind);
      }
    }
    this.#tenants = next;
    this.#requests.reset();
    this.#grantedSeries.clear();
    this.#cacheSeries.clear();
    for (const tenant of [...next, UNKNOWN_TENANT]) {
      for (const kind of ALERT_KINDS) this.#anomalyAlerts.labels(tenant, kind).inc(0);
    }
  }

  /** The label value for a tenant name: configured tenants by name, anything else `unknown`. */
  label(tenant: string | undefined): string {
    return tenant !== undefined && this.#tenants.has(tenant) ? tenant : UNKNOWN_TENANT;
  }

  /**
   * The calling services that may be `peer` label values (inbound), at each config load:
   * this service, the upstreams it calls and `telemetry.peers`. Others are `unknown`.
   */
  setPeers(peers: Iterable<string>): void {
    this.#peers = new Set([this.#service, ...peers]);
    this.#requests.reset();
  }

  /** The label value for a calling service: a known one by name, anything else `unknown`. */
  peerLabel(service: string | undefined): string {
    return service !== undefined && this.#peers.has(service) ? service : UNKNOWN_TENANT;
  }

  /**
   * One answered request. Inbound, `peer` is the calling service from the peer's SVID and
   * `upstream` is empty; outbound, the caller is this service's app, so `peer` is this
   * service, and `upstream` the `outbound.upstreams` key (`unknown` before one is picked).
   */
  request(outcome: RequestOutcome): void {
    const { direction } = outcome;
    const inbound = direction === "inbound";
    this.#requests.observe(
      direction,
      this.label(outcome.tenant),
      inbound ? this.peerLabel(outcome.peer) : this.#service,
      inbound ? "" : (outcome.upstream ?? UNKNOWN_TENANT),
      outcome,
    );
  }

  /** A request refused before it was parsed (or by Node itself): no tenant, peer or body. */
  refusedUnparsed(direction: Direction, status: number): void {
    this.request({
      direction,
      tenant: undefined,
      peer: undefined,
      upstream: undefined,
      status,
      seconds: 0,
      bytesIn: 0,
      bytesOut: 0,
      traceId: undefined,
    });
  }

  denied(
    direction: Direction,
    tenant: string | undefined,
    target: string | undefined,
    reason: string,
  ): void {
    this.#denied.labels(direction, this.label(tenant), this.label(target), reason).inc();
  }

  granted(tenant: string, target: string): void {
    this.#grantedSeries.inc(this.label(tenant), this.label(target));
  }

  policyAudit(tenant: string, target: string, result: PolicyAuditResult): void {
    this.#policyAudit.labels(this.label(tenant), this.label(target), result).inc();
  }

  cacheRequest(tenant: string, result: CacheResult): void {
    this.#cacheSeries.inc(this.label(tenant), result);
  }

  cacheBytes(tenant: string, bytes: number): void {
    // A partition dropped with its tenant reports 0 once more; that is not an `unknown` series.
    if (!this.#tenants.has(tenant)) return;
    this.#cacheBytes.labels(tenant).set(bytes);
  }

  cacheEviction(tenant: string): void {
    this.#cacheEvictions.labels(this.label(tenant)).inc();
  }

  handshakeFailure(reason: string): void {
    this.#handshakeFailures.labels(reason).inc();
  }

  tunnelOpened(tenant: string | undefined, kind: TunnelKind): void {
    this.#tunnelsOpen.labels(this.label(tenant), kind).inc();
  }

  tunnelClosed(tenant: string | undefined, kind: TunnelKind): void {
    this.#tunnelsOpen.labels(this.label(tenant), kind).dec();
  }

  tunnelBytes(tenant: string | undefined, kind: TunnelKind, bytes: number): void {
    this.#tunnelBytes.labels(this.label(tenant), kind).inc(bytes);
  }

  /** Reasons are a fixed set (proxy/h2.ts), never a peer's text. */
  http2SessionClosed(reason: Http2CloseReason): void {
    this.#http2Closed.labels(reason).inc();
  }

  anomalyFired(tenant: string, kind: string): void {
    this.#anomalyAlerts.labels(this.label(tenant), kind).inc();
  }

  anomalyActive(tenant: string, kind: string, active: 0 | 1): void {
    this.#anomalyActive.labels(this.label(tenant), kind).set(active);
  }

  certExpiry(tenant: string, expiresAt: Date): void {
    this.#certExpiry.labels(this.label(tenant)).set(Math.floor(expiresAt.getTime() / 1000));
  }

  reload(result: "success" | "failure"): void {
    this.#reloads.labels(result).inc();
  }
}
