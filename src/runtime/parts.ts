/**
 * The parts that outlive a generation, and how each follows a new one: the subscribers
 * registered here run in the order runtime/subscribers.ts fixes.
 */
import type { H2Pool } from "../http/h2-pool.js";
import type { TLSSocket } from "node:tls";
import type { Generation } from "../config/generation.js";
import type { Metrics } from "../telemetry/metrics.js";
import { setLogLevel, type Logs } from "../telemetry/logs.js";
import type { Tracing } from "../telemetry/tracing.js";
import type { AnomalyAlerting } from "../anomaly/alerting.js";
import type { PartitionedCache, TenantHttpCache } from "../cache/index.js";
import { checkDefaultCredentials, reconfigureListener } from "../proxy/listeners.js";
import type { UpstreamPools } from "../outbound/upstream-pools.js";
import { currentIdentity } from "../tls/peer-identity.js";
import { reportExpiry } from "../tls/cert-expiry.js";
import type { AppPool } from "./app-pool.js";
import type { Listener } from "./listener-set.js";
import type { Reloader } from "./reloader.js";

export interface Parts {
  metrics: Metrics;
  logs: Logs;
  anomaly: AnomalyAlerting;
  tracing: Tracing | undefined;
  cacheStore: PartitionedCache;
  cache: TenantHttpCache;
  pools: UpstreamPools;
  app: AppPool;
  /** HTTP/2 sessions to the app, for `inbound.appProtocol: h2c`. */
  appH2c: H2Pool;
  listeners: readonly Listener[];
  now(): number;
}

/** What every generation sets up, the first one included: tenant labels, expiry, cache partitions. */
export function observe(parts: Parts, generation: Generation): void {
  observeMetrics(parts, generation);
  observeCache(parts, generation);
}

export function subscribeParts(reloader: Reloader, parts: Parts): void {
  reloader.subscribe("logs", {
    apply: ({ next }) => setLogLevel(parts.logs, next.config.telemetry.logs.level),
  });
  reloader.subscribe("listeners", {
    prepare: ({ next }) => checkDefaultCredentials(next),
    apply: ({ next }) => {
      for (const l of parts.listeners) reconfigureListener(l.name, l.server, next);
    },
  });
  reloader.subscribe("metrics", { apply: ({ next }) => observeMetrics(parts, next) });
  reloader.subscribe("cache", {
    apply: ({ next, tenants }) => {
      observeCache(parts, next);
      // Trust under a new CA starts clean: nothing kept from connections the old one proved.
      for (const t of tenants.caChanged) if (next.active.has(t)) parts.cache.purge(t);
    },
  });
  reloader.subscribe("pools", {
    apply: ({ next }) => {
      parts.pools.prune(next);
      parts.app.reconfigure(next.config.inbound.timeouts.idle);
    },
  });
  reloader.subscribe("anomaly", {
    apply: ({ next }) => parts.anomaly.reconfigure(next.config.anomaly),
  });
  reloader.subscribe("revocation", { apply: ({ next }) => ({ cut: cutUntrusted(parts, next) }) });
}

/** Certificate expiry against the clock: at every load, and from the sidecar's hourly timer. */
export function checkExpiry(parts: Parts, generation: Generation): void {
  reportExpiry(generation, new Date(parts.now()), {
    metrics: parts.metrics,
    log: parts.logs.event,
  });
}

function observeMetrics(parts: Parts, generation: Generation): void {
  parts.metrics.setTenants(generation.tenants.keys());
  const { outbound, telemetry } = generation.config;
  parts.metrics.setPeers([...Object.keys(outbound.upstreams), ...telemetry.peers]);
  checkExpiry(parts, generation);
}

/** Limits, and one partition per active tenant (a removed or revoked tenant loses its own). */
function observeCache(parts: Parts, generation: Generation): void {
  parts.cacheStore.setLimits(generation.config.cache);
  parts.cacheStore.setTenants(
    new Map(
      [...generation.active].flatMap((t) => {
        const tenant = generation.tenants.get(t);
        return tenant ? [[t, tenant.cache] as const] : [];
      }),
    ),
  );
}

/**
 * Inbound connections whose peer the new generation no longer trusts (tenant removed or
 * revoked, CA replaced): idle ones are closed now, busy ones once their response is
 * written; a request that arrives on one meanwhile is refused `tenant_revoked`.
 */
function cutUntrusted(parts: Parts, generation: Generation): { idle: number; busy: number } {
  const now = new Date(parts.now());
  const inbound = parts.listeners.find((l) => l.name === "inbound");
  if (!inbound) return { idle: 0, busy: 0 };
  return inbound.connections.closeWhere(
    (socket) => !currentIdentity(socket as TLSSocket, generation, now).ok,
  );
}

/**
 * What the listeners share: upstream pools, the app's pool, alert delivery, tracing. Called
 * once every client connection is cut, so a request to the app or a peer still open has no
 * one to answer: destroyed, not awaited, so drain ends within `drainTimeout`.
 */
export async function closeShared(parts: Parts, alertFlushMs: number): Promise<void> {
  await Promise.all([
    parts.pools.destroy(),
    parts.app.destroy(),
    parts.appH2c.destroy().catch(() => {}),
    parts.anomaly.close(alertFlushMs),
    parts.tracing?.shutdown(),
  ]);
}
