/**
 * The composition root: one sidecar = one config generation at a time, three listeners,
 * and the shared parts (metrics, logs, tokens, pools, caches, anomaly detector) passed to
 * the request paths. Reloads (file watch, SIGHUP) build a whole new generation and swap it
 * in one step, then withdraw whatever the old one trusted and the new one does not; stop
 * drains.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { Agent } from "undici";
import { admitConfig, admitSettledConfig, ConfigRefusedError } from "./config/admit.js";
import {
  referencedFiles,
  tenantChanges,
  type Generation,
  type TenantChanges,
} from "./config/generation.js";
import { describeFinding, type Finding } from "./config/lint.js";
import { listenOn } from "./config/listen.js";
import { loadConfigFile } from "./config/load.js";
import { DEFAULT_SETTLE_MS } from "./config/settle.js";
import { watchConfig, type ConfigWatcher } from "./config/watch.js";
import { ContextTokens } from "./tenancy/context-token.js";
import { Metrics } from "./telemetry/metrics.js";
import { createLogs, type Logs } from "./telemetry/logs.js";
import { createTracing, type Tracing } from "./telemetry/tracing.js";
import { createAdminServer } from "./admin/server.js";
import { inboundHandler, inboundUpgradeHandler } from "./inbound/handler.js";
import { H2Pool } from "./http/h2-pool.js";
import { outboundHandler, outboundUpgradeHandler } from "./outbound/handler.js";
import {
  applyDefaultCredentials,
  createInboundServer,
  createOutboundServer,
  guardSockets,
} from "./proxy/listeners.js";
import { ConnectionSet } from "./proxy/connections.js";
import { UpstreamPools } from "./outbound/upstream-pools.js";
import { InFlight } from "./proxy/in-flight.js";
import { TenantConcurrency, TenantRateLimiter } from "./path/rate-limit.js";
import { PartitionedCache, TenantHttpCache } from "./cache/index.js";
import type { ProxyDeps } from "./path/deps.js";
import { ProjectionBudget } from "./inbound/projection-budget.js";
import { currentIdentity } from "./tls/peer-identity.js";
import { EXPIRY_CHECK_INTERVAL_MS, reportExpiry } from "./tls/cert-expiry.js";
import type { DestinationStream } from "pino";
import { AnomalyAlerting } from "./anomaly/alerting.js";

/**
 * How long queued alerts get to reach Alertmanager after the drain. Short: a dead receiver
 * must not push the pod past its termination grace period.
 */
const ALERT_FLUSH_MS = 2_000;

export interface SidecarOptions {
  configFile: string;
  /** Log sink override (tests); defaults to the config's destination. */
  logStream?: DestinationStream;
  now?: () => number;
  /**
   * Reload when the config file or any certificate, key or CA file it names changes
   * (Kubernetes `..data` swaps and plain edits). Off by default for embedders; `run` on.
   */
  watch?: boolean | { debounceMs: number };
  /** How often certificate expiry is re-checked against the clock (default hourly). */
  expiryCheckIntervalMs?: number;
  /**
   * A reload applies the config and its files only once two reads this far apart agree
   * (config/settle.ts), so a file written in two steps is never applied half-written.
   */
  settleMs?: number;
}

export interface SidecarAddresses {
  inbound: AddressInfo;
  outbound: AddressInfo;
  admin: AddressInfo;
}

export class Sidecar {
  #generation: Generation;
  #ready = false;
  #draining = false;
  #stopped: Promise<void> | undefined;
  /** Reloads run one at a time, in order: generation ids never collide. */
  #reloads: Promise<unknown> = Promise.resolve();
  /** A watch reload queued behind the running one: later file events join it (it reads the latest files). */
  #queuedWatch: Promise<boolean> | undefined;
  #settleMs = DEFAULT_SETTLE_MS;
  #watcher: ConfigWatcher | undefined;
  /** The last refused reload's error, so repeated file events for it count once. */
  #lastFailure: string | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  readonly #inFlight = new InFlight();
  readonly #servers: { inbound: Server; outbound: Server; admin: Server };
  readonly #inboundConnections = new ConnectionSet();
  readonly #outboundConnections = new ConnectionSet();
  readonly #adminConnections = new ConnectionSet();
  readonly #pools: UpstreamPools;
  readonly #app: Agent;
  readonly #appH2c: H2Pool;
  readonly #cacheStore: PartitionedCache;
  readonly #cache: TenantHttpCache;

  private constructor(
    generation: Generation,
    readonly metrics: Metrics,
    readonly logs: Logs,
    readonly anomaly: AnomalyAlerting,
    readonly tracing: Tracing | undefined,
    private readonly now: () => number,
  ) {
    this.#generation = generation;
    const timeouts = generation.config.inbound.timeouts;
    this.#app = new Agent({ keepAliveTimeout: Math.min(timeouts.idle, 4_000), connections: 256 });
    this.#appH2c = new H2Pool();
    this.#pools = new UpstreamPools({ keepAliveTimeout: 4_000, connections: 256 });
    this.#cacheStore = new PartitionedCache(generation.config.cache, {
      now,
      hooks: {
        onEvict: (tenant) => metrics.cacheEviction(tenant),
        onBytes: (tenant, bytes) => metrics.cacheBytes(tenant, bytes),
      },
    });
    this.#cache = new TenantHttpCache(this.#cacheStore);
    const deps: ProxyDeps = {
      generation: () => this.#generation,
      metrics,
      logs,
      tokens: new ContextTokens(),
      anomaly,
      tracing: this.tracing,
      cache: this.#cache,
      rateLimits: { inbound: new TenantRateLimiter(), outbound: new TenantRateLimiter() },
      concurrency: { inbound: new TenantConcurrency(), outbound: new TenantConcurrency() },
      projectionBudget: new ProjectionBudget(metrics.registry),
      app: this.#app,
      appH2c: this.#appH2c,
      upstreamPool: (g, upstream, tenant) => this.#pools.get(g, upstream, tenant),
      upstreamH2: (g, upstream, tenant) => this.#pools.getH2(g, upstream, tenant),
      now,
    };
    this.#servers = {
      inbound: createInboundServer(deps, this.#inFlight.wrap(inboundHandler(deps))),
      outbound: createOutboundServer(deps, this.#inFlight.wrap(outboundHandler(deps))),
      admin: createAdminServer({
        generation: () => this.#generation,
        metrics,
        ready: () => this.#ready,
        purgeCache: (tenant, prefix) =>
          this.#cacheStore.has(tenant) ? this.#cache.purge(tenant, prefix) : undefined,
        cacheBytes: (tenant) => this.#cacheStore.bytes(tenant),
      }),
    };
    this.#servers.inbound.on("upgrade", inboundUpgradeHandler(deps));
    this.#servers.outbound.on("upgrade", outboundUpgradeHandler(deps));
    guardSockets("inbound", deps, this.#servers.inbound, this.#inboundConnections);
    guardSockets("outbound", deps, this.#servers.outbound, this.#outboundConnections);
    guardSockets("admin", deps, this.#servers.admin, this.#adminConnections);
  }

  static async start(options: SidecarOptions): Promise<Sidecar> {
    const now = options.now ?? Date.now;
    const loaded = await loadConfigFile(options.configFile);
    const { generation, findings } = await admitConfig(loaded, { id: 1, now: new Date(now()) });
    const { config } = generation;
    const logs = createLogs(
      { ...config.telemetry.logs, baseDir: loaded.baseDir, service: config.service },
      options.logStream,
    );
    const metrics = new Metrics(config.service);
    const tracing = await createTracing(config);
    const anomaly = new AnomalyAlerting(config.anomaly, {
      service: config.service,
      logger: logs.event,
      metrics: {
        alertFired: (t, k) => metrics.anomalyFired(t, k),
        setActive: (t, k, v) => metrics.anomalyActive(t, k, v),
      },
      ...(tracing ? { tracer: tracing.tracer } : {}),
      now,
    });
    const sidecar = new Sidecar(generation, metrics, logs, anomaly, tracing, now);
    sidecar.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    sidecar.#warn(generation, findings);
    try {
      sidecar.#observe(generation);
      await sidecar.#listen();
      if (options.watch) sidecar.#watch(options.watch === true ? 250 : options.watch.debounceMs);
      const interval = options.expiryCheckIntervalMs ?? EXPIRY_CHECK_INTERVAL_MS;
      sidecar.#expiryTimer = setInterval(() => sidecar.#checkExpiry(sidecar.#generation), interval);
      sidecar.#expiryTimer.unref();
    } catch (err) {
      await sidecar.#abandonStart(err as Error);
      throw err;
    }
    sidecar.#ready = true;
    logs.event.info(
      {
        generation: generation.id,
        tenants: generation.tenants.size,
        watching: sidecar.#watcher?.directories,
        ...sidecar.addressesText(),
      },
      "palisade started",
    );
    return sidecar;
  }

  get generation(): Generation {
    return this.#generation;
  }

  get ready(): boolean {
    return this.#ready;
  }

  addresses(): SidecarAddresses {
    return {
      inbound: this.#servers.inbound.address() as AddressInfo,
      outbound: this.#servers.outbound.address() as AddressInfo,
      admin: this.#servers.admin.address() as AddressInfo,
    };
  }

  addressesText(): Record<string, string> {
    const a = this.addresses();
    return {
      inbound: `${a.inbound.address}:${a.inbound.port}`,
      outbound: `${a.outbound.address}:${a.outbound.port}`,
      admin: `${a.admin.address}:${a.admin.port}`,
    };
  }

  /** Connections each listener holds open, whatever their stage (handshake included). */
  async openConnections(): Promise<Record<keyof SidecarAddresses, number>> {
    const count = (server: Server) =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
      );
    const [inbound, outbound, admin] = await Promise.all([
      count(this.#servers.inbound),
      count(this.#servers.outbound),
      count(this.#servers.admin),
    ]);
    return { inbound, outbound, admin };
  }

  /**
   * Loads the config file again. The new generation is built and validated whole before
   * it replaces the running one; on any error the running one stays. A watch event that
   * changed nothing (same config text, same certificate, key and CA bytes) swaps nothing.
   * Listen addresses are fixed for the life of the process.
   */
  reload(reason: string): Promise<boolean> {
    // A burst of file events while a reload settles makes one more reload, not one each.
    if (reason === "watch" && this.#queuedWatch) return this.#queuedWatch;
    const run = this.#reloads.then(() => {
      if (reason === "watch") this.#queuedWatch = undefined;
      return this.#reload(reason);
    });
    this.#reloads = run.catch((err: Error) => {
      this.metrics.reload("failure");
      this.logs.event.error({ reason, err: err.message }, "config reload failed");
    });
    const result = run.catch(() => false);
    if (reason === "watch") this.#queuedWatch = result;
    return result;
  }

  async #reload(reason: string): Promise<boolean> {
    if (this.#draining) return false;
    const current = this.#generation;
    // Before reading: a directory replaced under its path is watched anew, so a change
    // landing while this reload runs triggers the next one instead of being missed.
    this.#watcher?.resync(current.files);
    let next: Generation;
    let findings: Finding[];
    try {
      ({ generation: next, findings } = await admitSettledConfig(current.loaded.file, {
        id: current.id + 1,
        now: new Date(this.now()),
        settleMs: this.#settleMs,
        cancelled: () => this.#draining,
      }));
    } catch (err) {
      if (this.#draining) return false;
      // A config that parsed may name certificate files that are still on their way.
      if (err instanceof ConfigRefusedError)
        this.#watcher?.resync([...current.files, ...referencedFiles(err.loaded)]);
      const message = (err as Error).message;
      // One broken update is one failure, however many file events it makes.
      if (reason === "watch" && message === this.#lastFailure) return false;
      this.#lastFailure = message;
      this.metrics.reload("failure");
      this.logs.event.error(
        { reason, generation: current.id, err: message },
        "config reload refused; keeping the running generation",
      );
      return false;
    }
    this.#lastFailure = undefined;
    if (next.digest === current.digest) {
      if (reason === "watch") return true;
      this.metrics.reload("success");
      this.logs.event.info({ reason, generation: current.id }, "config reloaded, nothing changed");
      return true;
    }
    if (this.#draining) return false;
    this.#swap(next, reason);
    this.#warn(next, findings);
    return true;
  }

  /** What `palisade check` would warn about, once per generation that has any. */
  #warn(generation: Generation, findings: readonly Finding[]): void {
    if (findings.length === 0) return;
    this.logs.event.warn(
      { generation: generation.id, findings: findings.map(describeFinding) },
      "config has warnings (palisade check lists them)",
    );
  }

  /** One step: the new generation serves every request and handshake from here on. */
  #swap(next: Generation, reason: string): void {
    const previous = this.#generation;
    // First: the only step that can still fail, and it leaves the old context in place.
    applyDefaultCredentials(this.#servers.inbound, next);
    this.#generation = next;
    this.#observe(next);
    this.anomaly.reconfigure(next.config.anomaly);
    const changes = tenantChanges(previous, next);
    // Trust under a new CA starts clean: nothing kept from connections the old one proved.
    for (const tenant of changes.caChanged) if (next.active.has(tenant)) this.#cache.purge(tenant);
    this.#pools.prune(next);
    const cut = this.#cutUntrustedConnections(next);
    this.#watcher?.resync(next.files);
    this.metrics.reload("success");
    this.logs.event.info(
      { reason, generation: next.id, tenants: next.tenants.size, ...changed(changes), cut },
      "config reloaded",
    );
    if (changes.rotated.length > 0)
      this.logs.event.info(
        { generation: next.id, tenants: changes.rotated },
        "certificates rotated; new handshakes use them",
      );
  }

  /**
   * Graceful drain: readiness fails first, listeners stop accepting after `drainDelay`,
   * keep-alive clients are told to close (`Connection: close` on every response not yet
   * started), in-flight requests get `drainTimeout`, then whatever is left is cut.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  async #drain(): Promise<void> {
    const { drainDelay, drainTimeout } = this.#generation.config;
    this.#ready = false;
    this.#draining = true;
    this.#inFlight.startDraining();
    this.#watcher?.close();
    clearInterval(this.#expiryTimer);
    this.logs.event.info({ inFlight: this.#inFlight.size, drainDelay, drainTimeout }, "draining");
    if (drainDelay > 0) await new Promise((r) => setTimeout(r, drainDelay).unref());
    const listeners = [
      [this.#servers.inbound, this.#inboundConnections],
      [this.#servers.outbound, this.#outboundConnections],
    ] as const;
    const closed = listeners.map(([server, connections]) => {
      const done = once(server, "close");
      server.close();
      server.closeIdleConnections();
      // Handshakes under way and heads not yet sent included: nothing keeps `close` waiting.
      connections.closeAll();
      return done;
    });
    this.logs.event.info({ inFlight: this.#inFlight.size }, "listeners closed");
    const deadline = performance.now() + drainTimeout;
    await this.#inFlight.waitIdle(drainTimeout);
    const cut = this.#inFlight.size;
    for (const [server, connections] of listeners) {
      server.closeAllConnections();
      connections.destroyAll();
    }
    await Promise.all(closed);
    await this.#abandonReload(deadline - performance.now());
    await this.#closeShared(ALERT_FLUSH_MS);
    await closeNow(this.#servers.admin, this.#adminConnections);
    this.logs.event.info({ cut }, "stopped");
    this.logs.root.flush();
  }

  /**
   * A reload still running when drain starts is never applied (#reload checks #draining),
   * but its reads cannot be cancelled: a FIFO or a stalled mount never returns. Drain gives
   * it what is left of its own deadline, then goes on without it.
   */
  async #abandonReload(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, ms)).unref();
    });
    const stuck = await Promise.race([this.#reloads.then(() => false), timedOut]);
    clearTimeout(timer);
    if (stuck) this.logs.event.warn({}, "reload still running at the end of drain; abandoned");
  }

  #watch(debounceMs: number): void {
    this.#watcher = watchConfig(this.#generation.files, () => void this.reload("watch"), {
      debounceMs,
      onError: (dir, err) =>
        this.logs.event.warn({ dir, err: err.message }, "cannot watch directory; SIGHUP reloads"),
    });
  }

  /** Binds all three listeners; every bind has settled before a failure is reported. */
  async #listen(): Promise<void> {
    const { config } = this.#generation;
    const results = await Promise.allSettled([
      listenOn(this.#servers.inbound, config.inbound.listen, "inbound"),
      listenOn(this.#servers.outbound, config.outbound.listen, "outbound"),
      listenOn(this.#servers.admin, config.admin.listen, "admin"),
    ]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /**
   * A start that failed half-way closes whatever it opened (listeners that did bind, the
   * connections they took, watcher, timers, pools, alert delivery, tracing), so the
   * process can exit instead of serving on some listeners without ever reloading.
   */
  async #abandonStart(err: Error): Promise<void> {
    this.#draining = true;
    this.#watcher?.close();
    clearInterval(this.#expiryTimer);
    await Promise.all([
      closeNow(this.#servers.inbound, this.#inboundConnections),
      closeNow(this.#servers.outbound, this.#outboundConnections),
      closeNow(this.#servers.admin, this.#adminConnections),
      // Nothing can be queued yet: no alert waits for delivery.
      this.#closeShared(0),
    ]);
    this.logs.event.error({ err: err.message }, "palisade failed to start");
    this.logs.root.flush();
  }

  /**
   * What the listeners share: upstream pools, the app's pool, alert delivery, tracing.
   * Called once the listeners are closed and every client connection cut, so any request
   * to the app or a peer still open has no one to answer: destroyed, not awaited, so
   * drain ends within `drainTimeout` whatever the app does.
   */
  async #closeShared(alertFlushMs: number): Promise<void> {
    await Promise.all([
      this.#pools.destroy(),
      this.#app.destroy().catch(() => {}),
      this.#appH2c.destroy().catch(() => {}),
      this.anomaly.close(alertFlushMs),
      this.tracing?.shutdown(),
    ]);
  }

  /**
   * Per-generation bookkeeping: bounded tenant labels, certificate expiry, and cache
   * partitions (a removed or revoked tenant loses its cache).
   */
  #observe(generation: Generation): void {
    this.metrics.setTenants(generation.tenants.keys());
    this.#cacheStore.setLimits(generation.config.cache);
    this.#cacheStore.setTenants(
      new Map([...generation.active].map((t) => [t, generation.tenants.get(t)!.cache])),
    );
    this.#checkExpiry(generation);
  }

  #checkExpiry(generation: Generation): void {
    reportExpiry(generation, new Date(this.now()), { metrics: this.metrics, log: this.logs.event });
  }

  /**
   * Connections whose peer the new generation no longer trusts (tenant removed or revoked,
   * CA replaced): idle ones are closed now, busy ones once their response is written; a
   * request that arrives on one meanwhile is refused `tenant_revoked` by the inbound path.
   */
  #cutUntrustedConnections(generation: Generation): { idle: number; busy: number } {
    const now = new Date(this.now());
    return this.#inboundConnections.closeWhere(
      (socket) => !currentIdentity(socket as TLSSocket, generation, now).ok,
    );
  }
}

/** Stops accepting and cuts every connection, whatever its stage; resolves once closed. */
async function closeNow(server: Server, connections: ConnectionSet): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, "close");
  server.close();
  server.closeAllConnections();
  connections.destroyAll();
  await closed;
}

/** Only the non-empty lists, for a short log line. */
function changed(changes: TenantChanges): Partial<TenantChanges> {
  return Object.fromEntries(Object.entries(changes).filter(([, list]) => list.length > 0));
}
