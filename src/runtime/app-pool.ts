/**
 * The connection pool to the local app. Its keep-alive follows `inbound.timeouts.idle`
 * (capped below Node's default server keep-alive of 5 s, so the pool drops a connection
 * before the app does); a reload that changes it replaces the pool: the old one finishes
 * the requests it carries, then closes.
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
    const old = this.#agent;
    this.#agent = agent(keepAlive);
    this.#keepAlive = keepAlive;
    this.#retiring.add(old);
    void old
      .close()
      .catch(() => {})
      .finally(() => this.#retiring.delete(old));
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
