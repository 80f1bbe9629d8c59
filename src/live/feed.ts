/**
 * The request-event feed: one more consumer of the request record (telemetry/report.ts
 * calls `publish` once per completed request). It feeds the live statistics (live/stats.ts),
 * keeps the most recent denials for the admin page, and broadcasts events to the admin
 * listener's `/events` streams.
 *
 * Nothing here may slow the request path or grow without bound: subscribers are capped,
 * an event is serialized once for all of them, and a subscriber whose unsent backlog passes
 * a bound is dropped, never waited for. With no subscriber, an allowed request costs the
 * statistics' counters and one branch; no event object is made.
 */
import type { RequestRecord } from "../path/record.js";
import { toEvent, type EventDecision, type RequestEvent } from "./event.js";
import type { LiveStats } from "./stats.js";

export interface EventFilter {
  readonly tenant?: string | undefined;
  readonly decision?: EventDecision | undefined;
}

/** One open stream (an `/events` response). */
export interface FeedSubscriber {
  readonly filter: EventFilter;
  /** Bytes handed over and not yet sent: the feed's measure of a slow reader. */
  backlog(): number;
  /** One event, already serialized as JSON. Must not throw or block. */
  write(json: string): void;
  /** Dropped by the feed (too slow); the subscriber ends its stream. */
  close(reason: "slow"): void;
}

export interface FeedOptions {
  stats: LiveStats;
  now: () => number;
  /** Streams open at once; `subscribe` refuses past this. */
  maxSubscribers: number;
  /** Unsent bytes a subscriber may hold before it is dropped. */
  maxBacklogBytes: number;
  /** Denials kept for the admin page's first render. */
  recentDenials: number;
  /** A subscriber was dropped for falling behind: the caller logs and counts it. */
  onDropped?: ((filter: EventFilter, backlog: number) => void) | undefined;
}

export class RequestFeed {
  readonly #options: FeedOptions;
  readonly #subscribers = new Set<FeedSubscriber>();
  /** Newest last; a fixed array used as a ring. */
  readonly #denials: (RequestEvent | undefined)[];
  #denialCount = 0;
  #dropped = 0;

  constructor(options: FeedOptions) {
    if (options.recentDenials < 1) throw new RangeError("recentDenials must be >= 1");
    this.#options = options;
    this.#denials = new Array<RequestEvent | undefined>(options.recentDenials);
  }

  publish(record: RequestRecord): void {
    const now = this.#options.now();
    this.#options.stats.add(record, now);
    const denied = record.decision === "deny";
    if (!denied && this.#subscribers.size === 0) return;
    const event = toEvent(record, now);
    if (denied) this.#keepDenial(event);
    if (this.#subscribers.size > 0) this.#broadcast(event);
  }

  /** Registers a stream; returns its unsubscribe, or undefined when the cap is reached. */
  subscribe(subscriber: FeedSubscriber): (() => void) | undefined {
    if (this.#subscribers.size >= this.#options.maxSubscribers) return undefined;
    this.#subscribers.add(subscriber);
    return () => void this.#subscribers.delete(subscriber);
  }

  /** The most recent denials, newest first. */
  recentDenials(): RequestEvent[] {
    const ring = this.#denials;
    const out: RequestEvent[] = [];
    for (let i = 1; i <= Math.min(this.#denialCount, ring.length); i++) {
      const event = ring[(this.#denialCount - i) % ring.length];
      if (event) out.push(event);
    }
    return out;
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Subscribers dropped for falling behind, since the start. */
  get dropped(): number {
    return this.#dropped;
  }

  #keepDenial(event: RequestEvent): void {
    this.#denials[this.#denialCount % this.#denials.length] = event;
    this.#denialCount++;
  }

  #broadcast(event: RequestEvent): void {
    let json: string | undefined;
    for (const subscriber of this.#subscribers) {
      if (!matches(subscriber.filter, event)) continue;
      const backlog = subscriber.backlog();
      if (backlog > this.#options.maxBacklogBytes) {
        this.#drop(subscriber, backlog);
        continue;
      }
      json ??= JSON.stringify(event);
      subscriber.write(json);
    }
  }

  #drop(subscriber: FeedSubscriber, backlog: number): void {
    this.#subscribers.delete(subscriber);
    this.#dropped++;
    this.#options.onDropped?.(subscriber.filter, backlog);
    subscriber.close("slow");
  }
}

export function matches(filter: EventFilter, event: RequestEvent): boolean {
  if (filter.decision !== undefined && filter.decision !== event.decision) return false;
  if (filter.tenant === undefined) return true;
  // A tenant's events are those it made and those made to it.
  return filter.tenant === event.tenant || filter.tenant === event.target;
}
