/**
 * Composition: the parts one sidecar is made of, built from its first generation. What
 * lives as long as the process (metrics, logs, caches, pools, anomaly detector, listeners)
 * is made here once; what a generation changes reaches it through the reloader's
 * subscribers (runtime/parts.ts) or through `generation()`, read on every request.
 */
import type { DestinationStream } from "pino";
import { admitConfig } from "../config/admit.js";
import type { Generation } from "../config/generation.js";
import type { Finding } from "../config/lint.js";
import { loadConfigFile } from "../config/load.js";
import { ContextTokens } from "../tenancy/context-token.js";
import { Metrics } from "../telemetry/metrics.js";
import { countDroppedLines, createLogs, type Logs } from "../telemetry/logs.js";
import { createTracing, type Tracing } from "../telemetry/tracing.js";
import { createAdminServer } from "../admin/server.js";
import { createStatsServer } from "../admin/stats-server.js";
import {
  inboundExtendedConnectHandler,
  inboundHandler,
  inboundUpgradeHandler,
} from "../inbound/handler.js";
import { H2Pool } from "../http/h2-pool.js";
import { outboundHandler, outboundUpgradeHandler } from "../outbound/handler.js";
import { createInboundServer, createOutboundServer, guardSockets } from "../proxy/listeners.js";
import { ConnectionSet } from "../proxy/connections.js";
import { UpstreamPools } from "../outbound/upstream-pools.js";
import { InFlight } from "../proxy/in-flight.js";
import { TenantConcurrency, TenantRateLimiter } from "../path/rate-limit.js";
import { PartitionedCache, TenantHttpCache } from "../cache/index.js";
import type { ProxyDeps } from "../path/deps.js";
import { ProjectionBudget } from "../inbound/projection-budget.js";
import { AnomalyAlerting } from "../anomaly/alerting.js";
import { createLiveView, type LiveView } from "../live/index.js";
import { AppPool } from "./app-pool.js";
import type { Listener } from "./listener-set.js";
import { Reloader } from "./reloader.js";
import { subscribeParts, type Parts } from "./parts.js";

export interface ComposeOptions {
  configFile: string;
  logStream?: DestinationStream | undefined;
  now: () => number;
  settleMs: number;
  /** Readiness, as the admin listener reports it. */
  ready: () => boolean;
}

export interface Composed extends Parts {
  reloader: Reloader;
  findings: Finding[];
  inFlight: InFlight;
}

export async function compose(options: ComposeOptions): Promise<Composed> {
  const { now } = options;
  const loaded = await loadConfigFile(options.configFile);
  const { generation, findings } = await admitConfig(loaded, { id: 1, now: new Date(now()) });
  const { config } = generation;
  const logs = createLogs(
    { ...config.telemetry.logs, baseDir: loaded.baseDir, service: config.service },
    options.logStream,
  );
  const metrics = new Metrics(config.service);
  countDroppedLines(metrics.registry, logs);
  const reloader = new Reloader(generation, {
    log: logs.event,
    metrics,
    now,
    settleMs: options.settleMs,
  });
  // Read per root span: a reload changes the sampling ratio without a new tracer.
  const tracing = await createTracing(
    config.service,
    config.telemetry.otlp,
    () => reloader.current.config.telemetry.otlp?.sampleRatio ?? 1,
  );
  const anomaly = anomalyAlerting(generation, logs, metrics, tracing, now);
  const cacheStore = new PartitionedCache(config.cache, {
    now,
    hooks: {
      onEvict: (tenant) => metrics.cacheEviction(tenant),
      onBytes: (tenant, bytes) => metrics.cacheBytes(tenant, bytes),
    },
  });
  const shared = {
    metrics,
    logs,
    anomaly,
    tracing,
    cacheStore,
    cache: new TenantHttpCache(cacheStore),
    pools: new UpstreamPools({ keepAliveTimeout: 4_000, connections: 256 }),
    app: new AppPool(config.inbound.timeouts.idle),
    appH2c: new H2Pool(),
    now,
  };
  const inFlight = new InFlight();
  const live = liveView(metrics, logs, now);
  const deps = proxyDeps(reloader, shared, live);
  const listeners = createListeners(deps, inFlight, {
    generation: () => reloader.current,
    metrics,
    ready: options.ready,
    purgeCache: (tenant, prefix) =>
      cacheStore.has(tenant) ? shared.cache.purge(tenant, prefix) : undefined,
    cacheBytes: (tenant) => cacheStore.bytes(tenant),
    live,
  });
  const parts: Parts = { ...shared, listeners };
  subscribeParts(reloader, parts);
  return { ...parts, reloader, findings, inFlight };
}

/**
 * What the request paths are given. The generation and the app pool are read through getters, so a reload reaches the next request without rebuilding them.
 */
function proxyDeps(
  reloader: Reloader,
  shared: Omit<Parts, "listeners">,
  live: LiveView,
): ProxyDeps {
  const { metrics, logs, anomaly, tracing, cache, pools, app, appH2c, now } = shared;
  return {
    generation: () => reloader.current,
    metrics,
    logs,
    tokens: new ContextTokens(),
    anomaly,
    feed: live.feed,
    tracing,
    cache,
    rateLimits: { inbound: new TenantRateLimiter(), outbound: new TenantRateLimiter() },
    concurrency: { inbound: new TenantConcurrency(), outbound: new TenantConcurrency() },
    projectionBudget: new ProjectionBudget(metrics.registry),
    get app() {
      return app.current;
    },
    appH2c,
    upstreamPool: (g, upstream, endpoint, tenant) => pools.get(g, upstream, endpoint, tenant),
    upstreamH2: (g, upstream, endpoint, tenant) => pools.getH2(g, upstream, endpoint, tenant),
    now,
  };
}

/** The listener list: traffic first (inbound, outbound), then control (admin, stats). */
function createListeners(
  deps: ProxyDeps,
  inFlight: InFlight,
  admin: Parameters<typeof createAdminServer>[0],
): Listener[] {
  const listeners: Listener[] = [
    {
      name: "inbound",
      server: createInboundServer(
        deps,
        inFlight.wrap(inboundHandler(deps)),
        inboundExtendedConnectHandler(deps),
      ),
      connections: new ConnectionSet(),
      role: "traffic",
      address: (c) => c.inbound.listen,
    },
    {
      name: "outbound",
      server: createOutboundServer(deps, inFlight.wrap(outboundHandler(deps))),
      connections: new ConnectionSet(),
      role: "traffic",
      address: (c) => c.outbound.listen,
    },
    {
      name: "admin",
      server: createAdminServer(admin),
      connections: new ConnectionSet(),
      role: "control",
      address: (c) => c.admin.listen,
    },
    {
      name: "stats",
      server: createStatsServer({ metrics: admin.metrics, ready: admin.ready }),
      connections: new ConnectionSet(),
      role: "control",
      address: (c) => c.stats.listen,
    },
  ];
  for (const l of listeners) guardSockets(l.name, deps, l.server, l.connections);
  // WebSocket upgrades: decided by the same stages, then tunnelled (path/tunnel.ts).
  const [inbound, outbound] = listeners as [Listener, Listener];
  inbound.server.on("upgrade", inboundUpgradeHandler(deps));
  outbound.server.on("upgrade", outboundUpgradeHandler(deps));
  return listeners;
}

function anomalyAlerting(
  generation: Generation,
  logs: Logs,
  metrics: Metrics,
  tracing: Tracing | undefined,
  now: () => number,
): AnomalyAlerting {
  const { config } = generation;
  return new AnomalyAlerting(config.anomaly, {
    service: config.service,
    logger: logs.event,
    metrics: {
      alertFired: (t, k) => metrics.anomalyFired(t, k),
      setActive: (t, k, v) => metrics.anomalyActive(t, k, v),
    },
    ...(tracing ? { tracer: tracing.tracer } : {}),
    now,
  });
}

/** Tenants are labelled as metrics label them; a stream cut for falling behind is logged and counted. */
function liveView(metrics: Metrics, logs: Logs, now: () => number): LiveView {
  return createLiveView({
    label: (tenant) => metrics.label(tenant),
    now,
    registry: metrics.registry,
    log: logs.event,
  });
}
