/**
 * The connection pool to the local app. Its keep-alive follows `inbound.timeouts.idle`
 * (capped below Node's default server keep-alive of 5 s, so the pool drops a connection
 * before the app does); a reload that changes it replaces the pool: the old one finishes
 * the requests it carries, then its connections end at their keep-alive.
 */
import { Agent } from "undici";

/** Under the 5 s keep-alive of a Node app: a request never lands on a socket the app is closing. */
const MAX_KEEP_ALIVE_MS = 4_000;
const CONNECTIONS = 256;

export class AppPool {
  #agent: Agent;
  #keepAlive: number;
  /** Replaced pools still finishing their requests. */
  readonly #retiring = new Set<Agent>();

  constructor(idleMs: number) {
    this.#keepAlive = keepAliveFor(idleMs);
    this.#agent = agent(this.#keepAlive);
  }

  get current(): Agent {
    return this.#agent;
  }

  reconfigure(idleMs: number): void {
    const keepAlive = keepAliveFor(idleMs);
    if (keepAlive === this.#keepAlive) return;
    this.#retire(this.#agent);
    this.#agent = agent(keepAlive);
    this.#keepAlive = keepAlive;
  }

  /** Replaced pools still finishing requests or holding connections. */
  get retiring(): number {
    return this.#retiring.size;
  }

  /**
   * Not `close()`d: undici forgets a closed pool's connections, so a later `destroy()` could
   * not abort a request still on one. Nothing new is sent through it; each origin's
   * connections end at their keep-alive, and the pool is let go with the last of them.
   */
  #retire(old: Agent): void {
    const release = () => {
      if (Object.keys(old.stats).length === 0) this.#retiring.delete(old);
    };
    this.#retiring.add(old);
    old.on("disconnect", release);
    release();
  }

  /** The end of drain: requests still open are aborted, so a hung app cannot hold the pod. */
  async destroy(): Promise<void> {
    const all = [this.#agent, ...this.#retiring];
    await Promise.all(all.map((a) => a.destroy().catch(() => {})));
  }
}

function keepAliveFor(idleMs: number): number {
  return Math.min(idleMs, MAX_KEEP_ALIVE_MS);
}

function agent(keepAliveTimeout: number): Agent {
  return new Agent({ keepAliveTimeout, connections: CONNECTIONS });
}
