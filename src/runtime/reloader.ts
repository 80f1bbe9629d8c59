/**
 * Reload: load → build → swap → notify. The new generation is read, validated and built
 * whole (config/admit.ts) while the running one serves; then it becomes current in one step
 * and every subscriber follows it, in the order of runtime/subscribers.ts. A refused config,
 * or a subscriber that cannot prepare, changes nothing; a subscriber that throws while
 * applying rolls every step back to the running generation. Either way the failure is
 * logged and counted in `palisade_config_reloads_total{result="failure"}`.
 */
import { admitSettledConfig, ConfigRefusedError } from "../config/admit.js";
import { referencedFiles, tenantChanges, type Generation } from "../config/generation.js";
import { describeFinding, type Finding } from "../config/lint.js";
import { watchConfig, type ConfigWatcher } from "../config/watch.js";
import type { Logger } from "../telemetry/logs.js";
import {
  SUBSCRIBER_ORDER,
  type GenerationChange,
  type Subscriber,
  type SubscriberName,
} from "./subscribers.js";

export interface ReloaderDeps {
  log: Logger;
  metrics: { reload(result: "success" | "failure"): void };
  now(): number;
  /** How far apart the two reads that must agree are (config/settle.ts). */
  settleMs: number;
}

export class Reloader {
  #current: Generation;
  /** Every generation ever made current had an id up to this: ids are never reused. */
  #lastId: number;
  #closed = false;
  readonly #subscribers = new Map<SubscriberName, Subscriber>();
  /** Reloads run one at a time, in order. */
  #reloads: Promise<unknown> = Promise.resolve();
  /** A watch reload queued behind the running one: later file events join it. */
  #queuedWatch: Promise<boolean> | undefined;
  /** The last refused reload's error, so repeated file events for it count once. */
  #lastFailure: string | undefined;
  #watcher: ConfigWatcher | undefined;

  constructor(
    initial: Generation,
    private readonly deps: ReloaderDeps,
  ) {
    this.#current = initial;
    this.#lastId = initial.id;
  }

  get current(): Generation {
    return this.#current;
  }

  get watching(): readonly string[] | undefined {
    return this.#watcher?.directories;
  }

  /** Registers the part called `name`; where it runs is SUBSCRIBER_ORDER's business. */
  subscribe(name: SubscriberName, subscriber: Subscriber): void {
    if (this.#subscribers.has(name)) throw new Error(`reload subscriber ${name} registered twice`);
    this.#subscribers.set(name, subscriber);
  }

  /** Reloads on changes to the config file and every file it names. */
  watch(debounceMs: number): void {
    this.#watcher = watchConfig(this.#current.files, () => void this.reload("watch"), {
      debounceMs,
      onError: (dir, err) =>
        this.deps.log.warn({ dir, err: err.message }, "cannot watch directory; SIGHUP reloads"),
    });
    const watcher = this.#watcher;
    this.subscribe("watcher", { apply: ({ next }) => watcher.resync(next.files) });
  }

  /**
   * Loads the config file again; resolves true when the running generation is the file's
   * (swapped, or unchanged), false when it was refused or the reloader is closed.
   */
  reload(reason: string): Promise<boolean> {
    // A burst of file events while a reload settles makes one more reload, not one each.
    if (reason === "watch" && this.#queuedWatch) return this.#queuedWatch;
    const run = this.#reloads.then(() => {
      if (reason === "watch") this.#queuedWatch = undefined;
      return this.#reload(reason);
    });
    this.#reloads = run.catch((err: unknown) => {
      this.deps.metrics.reload("failure");
      this.deps.log.error({ reason, err: (err as Error).message }, "config reload failed");
    });
    const result = run.catch(() => false);
    if (reason === "watch") this.#queuedWatch = result;
    return result;
  }

  /** No reload is applied from now on; the watcher stops. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
  }

  /**
   * A reload still reading files when drain ends is never applied, but its reads cannot be
   * cancelled (a FIFO or a stalled mount never returns): resolves after `ms` at the latest.
   */
  async settled(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, ms)).unref();
    });
    const done = await Promise.race([this.#reloads.then(() => true), timedOut]);
    clearTimeout(timer);
    return done;
  }

  async #reload(reason: string): Promise<boolean> {
    // A call, not the field: close() may run during an await, which narrowing cannot see.
    const cancelled = () => this.#closed;
    if (cancelled()) return false;
    const current = this.#current;
    // Before reading: a directory replaced under its path is watched anew, so a change
    // landing while this reload runs triggers the next one instead of being missed.
    this.#watcher?.resync(current.files);
    let admitted: { generation: Generation; findings: Finding[] };
    try {
      admitted = await admitSettledConfig(current.loaded.file, {
        id: this.#lastId + 1,
        now: new Date(this.deps.now()),
        settleMs: this.deps.settleMs,
        cancelled,
      });
    } catch (err) {
      if (cancelled()) return false;
      // A config that parsed may name certificate files that are still on their way.
      if (err instanceof ConfigRefusedError)
        this.#watcher?.resync([...current.files, ...referencedFiles(err.loaded)]);
      return this.#refused(reason, (err as Error).message);
    }
    this.#lastFailure = undefined;
    const { generation: next, findings } = admitted;
    if (next.digest === current.digest) {
      if (reason === "watch") return true;
      this.deps.metrics.reload("success");
      this.deps.log.info({ reason, generation: current.id }, "config reloaded, nothing changed");
      return true;
    }
    if (cancelled()) return false;
    const change = { previous: current, next, reason, tenants: tenantChanges(current, next) };
    if (!this.#swap(change)) return false;
    warnFindings(this.deps.log, next, findings);
    return true;
  }

  /** One broken update is one failure, however many file events it makes. */
  #refused(reason: string, message: string, subscriber?: SubscriberName): false {
    if (reason === "watch" && message === this.#lastFailure) return false;
    this.#lastFailure = message;
    this.deps.metrics.reload("failure");
    this.deps.log.error(
      { reason, generation: this.#current.id, err: message, subscriber },
      "config reload refused; keeping the running generation",
    );
    return false;
  }

  /** Prepare all, then swap and apply in order; false when refused or rolled back. */
  #swap(change: GenerationChange): boolean {
    const ordered = this.#ordered();
    for (const [name, subscriber] of ordered) {
      try {
        subscriber.prepare?.(change);
      } catch (err) {
        return this.#refused(change.reason, (err as Error).message, name);
      }
    }
    this.#current = change.next;
    this.#lastId = change.next.id;
    const fields: Record<string, unknown> = {};
    for (const [index, [name, subscriber]] of ordered.entries()) {
      try {
        Object.assign(fields, subscriber.apply(change));
      } catch (err) {
        this.#rollBack(change, ordered.slice(0, index + 1), name, err as Error);
        return false;
      }
    }
    this.deps.metrics.reload("success");
    const { next, reason, tenants } = change;
    const lists = Object.entries(tenants) as [string, string[]][];
    const changed = lists.filter(([, list]) => list.length > 0);
    this.deps.log.info(
      {
        reason,
        generation: next.id,
        tenants: next.tenants.size,
        ...Object.fromEntries(changed),
        ...fields,
      },
      "config reloaded",
    );
    if (tenants.rotated.length > 0)
      this.deps.log.info(
        { generation: next.id, tenants: tenants.rotated },
        "certificates rotated; new handshakes use them",
      );
    return true;
  }

  /**
   * `failed` threw while applying `change`: the previous generation is made current again
   * and re-applied to every step that ran (the failed one first, then backwards), so no
   * part is left following a generation the others do not.
   */
  #rollBack(
    change: GenerationChange,
    ran: Array<[SubscriberName, Subscriber]>,
    failed: SubscriberName,
    err: Error,
  ): void {
    const back: GenerationChange = {
      previous: change.next,
      next: change.previous,
      reason: "rollback",
      tenants: tenantChanges(change.next, change.previous),
    };
    this.#current = change.previous;
    for (const [name, subscriber] of ran.reverse()) {
      try {
        subscriber.apply(back);
      } catch (again) {
        this.deps.log.error(
          { subscriber: name, err: (again as Error).message },
          "reload rollback step failed",
        );
      }
    }
    this.#lastFailure = err.message;
    this.deps.metrics.reload("failure");
    this.deps.log.error(
      {
        reason: change.reason,
        generation: change.previous.id,
        subscriber: failed,
        err: err.message,
      },
      "config reload failed while applying; rolled back to the running generation",
    );
  }

  #ordered(): Array<[SubscriberName, Subscriber]> {
    return SUBSCRIBER_ORDER.flatMap((name) => {
      const subscriber = this.#subscribers.get(name);
      return subscriber ? [[name, subscriber] as [SubscriberName, Subscriber]] : [];
    });
  }
}

/** What `palisade check` would warn about, once per generation that has any. */
export function warnFindings(
  log: Logger,
  generation: Generation,
  findings: readonly Finding[],
): void {
  if (findings.length === 0) return;
  log.warn(
    { generation: generation.id, findings: findings.map(describeFinding) },
    "config has warnings (palisade check lists them)",
  );
}
