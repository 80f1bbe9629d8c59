/**
 * Delivers alert notifications over HTTP off the request path: a bounded FIFO (oldest
 * dropped when full, and counted), one delivery at a time so a resolve never overtakes
 * its fire, retries with capped exponential backoff and full jitter, and a hard timeout
 * per attempt. `push()` only enqueues; the first byte is built on a later turn of the loop.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request, type Dispatcher } from "undici";
import { RingBuffer } from "./ring-buffer.js";

export interface RenderedDelivery {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Delivery {
  readonly url: string;
  /** Built per attempt, so time-bound fields (expiry, signature timestamp) are fresh. */
  render(now: number): RenderedDelivery;
}

export type DropReason = "overflow" | "failed" | "closed";

export interface DeliveryQueueOptions {
  /** Waiting deliveries kept at most (one more may be in flight). */
  readonly capacity: number;
  readonly timeoutMs?: number;
  readonly maxAttempts?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Default: a private undici Agent, closed with the queue. */
  readonly dispatcher?: Dispatcher;
  readonly onDropped?: (reason: DropReason, error?: unknown) => void;
}

export interface DeliveryStats {
  readonly waiting: number;
  readonly inFlight: boolean;
  readonly delivered: number;
  readonly dropped: number;
}

type Outcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly permanent: boolean; readonly error: unknown };

/** Worth retrying: the receiver is busy or broken now. Other 4xx will not fix themselves. */
const isRetryable = (status: number) => status === 408 || status === 429 || status >= 500;

export class DeliveryQueue {
  private readonly waiting: RingBuffer<Delivery>;
  private readonly abort = new AbortController();
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly timeoutMs: number;
  private running = false;
  private inFlight = false;
  private closing = false;
  private delivered = 0;
  private dropped = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private closed: Promise<number> | undefined;

  constructor(private readonly options: DeliveryQueueOptions) {
    this.waiting = new RingBuffer(options.capacity);
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: this.timeoutMs },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
  }

  push(delivery: Delivery): void {
    if (this.closing) return this.drop("closed");
    if (this.waiting.push(delivery) !== undefined) this.drop("overflow");
    if (this.running) return;
    this.running = true;
    // Next turn: serialising, signing and dispatching stay off the caller's stack.
    setImmediate(() => void this.pump());
  }

  stats(): DeliveryStats {
    return {
      waiting: this.waiting.size,
      inFlight: this.inFlight,
      delivered: this.delivered,
      dropped: this.dropped,
    };
  }

  /**
   * Stops taking work and tries to deliver what is queued until `deadlineMs`; then aborts.
   * Returns how many deliveries were given up.
   */
  close(deadlineMs: number): Promise<number> {
    this.closed ??= this.drain(deadlineMs);
    return this.closed;
  }

  private async drain(deadlineMs: number): Promise<number> {
    this.closing = true;
    const droppedBefore = this.dropped;
    if (this.running) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
      await Promise.race([idle, deadline]);
      clearTimeout(timer);
      this.abort.abort();
      await idle;
    }
    this.abort.abort();
    while (this.waiting.shift() !== undefined) this.drop("closed");
    if (this.ownsDispatcher) await this.dispatcher.destroy();
    return this.dropped - droppedBefore;
  }

  private async pump(): Promise<void> {
    try {
      let next = this.waiting.shift();
      while (next !== undefined && !this.abort.signal.aborted) {
        this.inFlight = true;
        await this.deliver(next);
        this.inFlight = false;
        next = this.waiting.shift();
      }
      if (next !== undefined) this.drop("closed");
    } finally {
      this.inFlight = false;
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async deliver(delivery: Delivery): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(delivery);
      if (outcome.ok) {
        this.delivered += 1;
        return;
      }
      if (this.abort.signal.aborted) {
        this.drop("closed", outcome.error);
        return;
      }
      if (outcome.permanent || attempt >= maxAttempts) {
        this.drop("failed", outcome.error);
        return;
      }
      try {
        // ref: false, a retry must not keep a process alive that has nothing else to do.
        await sleep(this.backoff(attempt), undefined, { signal: this.abort.signal, ref: false });
      } catch {
        this.drop("closed", outcome.error);
        return;
      }
    }
  }

  private async attempt(delivery: Delivery): Promise<Outcome> {
    let rendered: RenderedDelivery;
    try {
      rendered = delivery.render((this.options.now ?? Date.now)());
    } catch (error) {
      return { ok: false, permanent: true, error };
    }
    try {
      const res = await request(delivery.url, {
        method: "POST",
        body: rendered.body,
        headers: { "content-type": "application/json", ...rendered.headers },
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        // Covers connect and a slow-drip body too, which the two timeouts above do not.
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true };
      const error = new Error(`HTTP ${res.statusCode} from ${new URL(delivery.url).origin}`);
      return { ok: false, permanent: !isRetryable(res.statusCode), error };
    } catch (error) {
      return { ok: false, permanent: false, error };
    }
  }

  /** Full jitter: uniform in [0, min(max, base * 2^(attempt-1))], so senders spread out. */
  private backoff(attempt: number): number {
    const base = this.options.backoffBaseMs ?? 250;
    const cap = Math.min(this.options.backoffMaxMs ?? 30_000, base * 2 ** (attempt - 1));
    return (this.options.random ?? Math.random)() * cap;
  }

  private drop(reason: DropReason, error?: unknown): void {
    this.dropped += 1;
    try {
      this.options.onDropped?.(reason, error);
    } catch {
      // A failing counter must not break delivery or the caller.
    }
  }
}
