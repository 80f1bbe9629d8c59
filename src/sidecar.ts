/**
 * The composition root: one sidecar = one config generation at a time, three listeners,
 * and the shared parts (metrics, logs, tokens, pools, caches, anomaly detector) passed to
 * the request paths. Reloads swap the generation in one step; stop drains.
 */
import { once } from "node:events";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Agent } from "undici";
import { buildGeneration, type Generation } from "./config/generation.js";
import { parseListen } from "./config/listen.js";
import { loadConfigFile } from "./config/load.js";
import { ContextTokens } from "./tenancy/context-token.js";
import { Metrics } from "./telemetry/metrics.js";
import { createLogs, type Logs } from "./telemetry/logs.js";
import { createTracing, type Tracing } from "./telemetry/tracing.js";
import { createAdminServer } from "./admin/server.js";
import { inboundHandler } from "./proxy/inbound.js";
import { outboundHandler } from "./proxy/outbound.js";
import {
  applyDefaultCredentials,
  ConnectionSet,
  createInboundServer,
  createOutboundServer,
} from "./proxy/listeners.js";
import { UpstreamPools } from "./proxy/upstream-pools.js";
import { PartitionedCache, TenantHttpCache } from "./cache/index.js";
import type { ProxyDeps } from "./proxy/deps.js";
import { currentIdentity } from "./tls/peer-identity.js";
import type { DestinationStream } from "pino";
import { AnomalyAlerting } from "./anomaly/alerting.js";

export interface SidecarOptions {
  configFile: string;
  /** Log sink override (tests); defaults to the config's destination. */
  logStream?: DestinationStream;
  now?: () => number;
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
  #inFlight = 0;
  #idle: (() => void) | undefined;
  readonly #servers: { inbound: Server; outbound: Server; admin: Server };
  readonly #inboundConnections = new ConnectionSet();
  readonly #pools: UpstreamPools;
  readonly #app: Agent;
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
      accessLog: generation.config.telemetry.logs.access,
      tokens: new ContextTokens(),
      anomaly,
      tracing: this.tracing,
      cache: this.#cache,
      app: this.#app,
      upstreamPool: (g, upstream, tenant) => this.#pools.get(g, upstream, tenant),
      now,
    };
    this.#servers = {
      inbound: createInboundServer(deps, this.#counted(inboundHandler(deps))),
      outbound: createOutboundServer(deps, this.#counted(outboundHandler(deps))),
      admin: createAdminServer({
        generation: () => this.#generation,
        metrics,
        ready: () => this.#ready,
        purgeCache: (tenant, prefix) =>
          this.#cacheStore.has(tenant) ? this.#cache.purge(tenant, prefix) : undefined,
        cacheBytes: (tenant) => this.#cacheStore.bytes(tenant),
      }),
    };
    this.#inboundConnections.track(this.#servers.inbound);
  }

  static async start(options: SidecarOptions): Promise<Sidecar> {
    const now = options.now ?? Date.now;
    const loaded = await loadConfigFile(options.configFile);
    const generation = await buildGeneration(loaded, 1, new Date(now()));
    const { config } = generation;
    const logs = createLogs(
      { ...config.telemetry.logs, baseDir: loaded.baseDir, service: config.service },
      options.logStream,
    );
    const metrics = new Metrics(config.service);
    const tracing = createTracing(config);
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
    sidecar.#observe(generation);
    await sidecar.#listen();
    sidecar.#ready = true;
    logs.event.info(
      { generation: generation.id, tenants: generation.tenants.size, ...sidecar.addressesText() },
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

  /**
   * Loads the config file again. The new generation is built and validated whole before
   * it replaces the running one; on any error the running one stays. Listen addresses are
   * fixed for the life of the process.
   */
  async reload(reason: string): Promise<boolean> {
    const current = this.#generation;
    let next: Generation;
    try {
      const loaded = await loadConfigFile(current.loaded.file);
      if (loaded.text === current.loaded.text && reason === "watch") return true;
      next = await buildGeneration(loaded, current.id + 1, new Date(this.now()));
    } catch (err) {
      this.metrics.reload("failure");
      this.logs.event.error(
        { reason, err: (err as Error).message },
        "config reload refused; keeping the running generation",
      );
      return false;
    }
    this.#generation = next;
    this.#observe(next);
    this.anomaly.reconfigure(next.config.anomaly);
    applyDefaultCredentials(this.#servers.inbound, next);
    this.#pools.prune(next);
    this.#cutUntrustedConnections(next);
    this.metrics.reload("success");
    this.logs.event.info(
      { reason, generation: next.id, tenants: next.tenants.size },
      "config reloaded",
    );
    return true;
  }

  /**
   * Graceful drain: readiness fails first, listeners stop accepting after `drainDelay`,
   * keep-alive clients are told to close, in-flight requests get `drainTimeout`.
   */
  async stop(): Promise<void> {
    if (this.#draining) return;
    const { drainDelay, drainTimeout } = this.#generation.config;
    this.#ready = false;
    this.#draining = true;
    this.logs.event.info({ inFlight: this.#inFlight, drainTimeout }, "draining");
    if (drainDelay > 0) await new Promise((r) => setTimeout(r, drainDelay).unref());
    const closed = [this.#servers.inbound, this.#servers.outbound].map((s) => {
      const done = once(s, "close");
      s.close();
      s.closeIdleConnections();
      return done;
    });
    await this.#waitIdle(drainTimeout);
    for (const s of [this.#servers.inbound, this.#servers.outbound]) s.closeAllConnections();
    await Promise.all(closed);
    await Promise.all([
      this.#pools.close(),
      this.#app.close().catch(() => {}),
      this.anomaly.close(5_000),
      this.tracing?.shutdown(),
    ]);
    const admin = once(this.#servers.admin, "close");
    this.#servers.admin.close();
    this.#servers.admin.closeAllConnections();
    await admin;
    this.logs.event.info({ inFlight: this.#inFlight }, "stopped");
    this.logs.root.flush();
  }

  #counted(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    return (req: IncomingMessage, res: ServerResponse) => {
      this.#inFlight++;
      if (this.#draining) res.shouldKeepAlive = false;
      res.once("close", () => {
        if (--this.#inFlight === 0) this.#idle?.();
      });
      handler(req, res);
    };
  }

  #waitIdle(timeout: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeout);
      this.#idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #listen(): Promise<void> {
    const { config } = this.#generation;
    await Promise.all(
      (
        [
          [this.#servers.inbound, config.inbound.listen],
          [this.#servers.outbound, config.outbound.listen],
          [this.#servers.admin, config.admin.listen],
        ] as const
      ).map(([server, listen]) => {
        const { host, port } = parseListen(listen);
        return new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, host, () => {
            server.off("error", reject);
            resolve();
          });
        });
      }),
    );
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
    for (const tenant of generation.tenants.values())
      this.metrics.certExpiry(tenant.id, tenant.expiresAt);
  }

  /** Idle connections whose tenant lost trust are closed now; busy ones after their response. */
  #cutUntrustedConnections(generation: Generation): void {
    const now = new Date(this.now());
    for (const socket of this.#inboundConnections.sockets) {
      const tls = socket as TLSSocket;
      if (!tls.encrypted || !tls.getPeerCertificate) continue;
      const check = currentIdentity(tls, generation, now);
      if (!check.ok && isIdle(socket)) socket.destroy();
    }
  }
}

function isIdle(socket: Socket): boolean {
  return !(socket as unknown as { _httpMessage?: unknown })._httpMessage;
}
