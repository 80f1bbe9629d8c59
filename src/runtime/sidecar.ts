/**
 * One sidecar: start (load → build the first generation → listeners → admin), reload
 * (runtime/reloader.ts) and stop (runtime/drain.ts). This file only sequences them.
 */
import type { AddressInfo } from "node:net";
import type { DestinationStream } from "pino";
import type { Generation } from "../config/generation.js";
import { DEFAULT_SETTLE_MS } from "../config/settle.js";
import type { ListenerName } from "../proxy/listeners.js";
import type { AnomalyAlerting } from "../anomaly/alerting.js";
import type { Logs } from "../telemetry/logs.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing } from "../telemetry/tracing.js";
import { EXPIRY_CHECK_INTERVAL_MS } from "../tls/cert-expiry.js";
import { compose, type Composed } from "./compose.js";
import { drain } from "./drain.js";
import { addressesOf, closeNow, listenAll, openConnections } from "./listener-set.js";
import { checkExpiry, closeShared, observe } from "./parts.js";
import { warnFindings } from "./reloader.js";

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

export type SidecarAddresses = Record<ListenerName, AddressInfo>;

export class Sidecar {
  /** Shared with the admin listener, which reports it on `/readyz`. */
  readonly #readiness: { ready: boolean };
  #stopped: Promise<void> | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  readonly #parts: Composed;

  private constructor(parts: Composed, readiness: { ready: boolean }) {
    this.#parts = parts;
    this.#readiness = readiness;
  }

  static async start(options: SidecarOptions): Promise<Sidecar> {
    const readiness = { ready: false };
    const parts = await compose({
      configFile: options.configFile,
      logStream: options.logStream,
      now: options.now ?? Date.now,
      settleMs: options.settleMs ?? DEFAULT_SETTLE_MS,
      ready: () => readiness.ready,
    });
    const sidecar = new Sidecar(parts, readiness);
    const { reloader, logs } = parts;
    warnFindings(logs.event, reloader.current, parts.findings);
    try {
      observe(parts, reloader.current);
      await listenAll(parts.listeners, reloader.current.config);
      if (options.watch) reloader.watch(options.watch === true ? 250 : options.watch.debounceMs);
      const interval = options.expiryCheckIntervalMs ?? EXPIRY_CHECK_INTERVAL_MS;
      sidecar.#expiryTimer = setInterval(() => checkExpiry(parts, reloader.current), interval);
      sidecar.#expiryTimer.unref();
    } catch (err) {
      await sidecar.#abandonStart(err as Error);
      throw err;
    }
    readiness.ready = true;
    logs.event.info(
      {
        generation: reloader.current.id,
        tenants: reloader.current.tenants.size,
        watching: reloader.watching,
        ...sidecar.addressesText(),
      },
      "palisade started",
    );
    return sidecar;
  }

  get generation(): Generation {
    return this.#parts.reloader.current;
  }

  get ready(): boolean {
    return this.#readiness.ready;
  }

  get metrics(): Metrics {
    return this.#parts.metrics;
  }

  get logs(): Logs {
    return this.#parts.logs;
  }

  get anomaly(): AnomalyAlerting {
    return this.#parts.anomaly;
  }

  get tracing(): Tracing | undefined {
    return this.#parts.tracing;
  }

  addresses(): SidecarAddresses {
    return addressesOf(this.#parts.listeners);
  }

  addressesText(): Record<string, string> {
    return Object.fromEntries(
      Object.entries(this.addresses()).map(([name, a]) => [name, `${a.address}:${a.port}`]),
    );
  }

  /** Connections each listener holds open, whatever their stage (handshake included). */
  openConnections(): Promise<Record<ListenerName, number>> {
    return openConnections(this.#parts.listeners);
  }

  /**
   * Loads the config file again. The new generation is built and validated whole before
   * it replaces the running one; on any error the running one stays. A watch event that
   * changed nothing (same config text, same certificate, key and CA bytes) swaps nothing.
   * Listen addresses are fixed for the life of the process.
   */
  reload(reason: string): Promise<boolean> {
    return this.#parts.reloader.reload(reason);
  }

  /**
   * Graceful drain (runtime/drain.ts): readiness fails first, then listeners stop
   * accepting, in-flight requests get `drainTimeout`, and whatever is left is cut.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  #drain(): Promise<void> {
    this.#readiness.ready = false;
    clearInterval(this.#expiryTimer);
    const parts = this.#parts;
    return drain({
      config: parts.reloader.current.config,
      listeners: parts.listeners,
      inFlight: parts.inFlight,
      reloader: parts.reloader,
      logs: parts.logs,
      closeShared: (ms) => closeShared(parts, ms),
    });
  }

  /**
   * A start that failed half-way closes whatever it opened (listeners that did bind, the
   * connections they took, watcher, timers, pools, alert delivery, tracing), so the
   * process can exit instead of serving on some listeners without ever reloading.
   */
  async #abandonStart(err: Error): Promise<void> {
    const parts = this.#parts;
    parts.reloader.close();
    clearInterval(this.#expiryTimer);
    await Promise.all([
      ...parts.listeners.map(closeNow),
      // Nothing can be queued yet: no alert waits for delivery.
      closeShared(parts, 0),
    ]);
    parts.logs.event.error({ err: err.message }, "palisade failed to start");
    parts.logs.root.flush();
  }
}
