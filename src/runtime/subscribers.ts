/**
 * What a reload notifies, and in which order: the one place that order is decided. Each
 * running part registers a subscriber under one of these names; the reloader calls them in
 * this order once the new generation is the current one.
 *
 * 1. `logs`: the level first, so every line the later steps write obeys the new one.
 * 2. `listeners`: no-SNI credentials (new handshakes) and socket timeouts.
 * 3. `metrics`: the bounded tenant label set, and certificate expiry.
 * 4. `cache`: limits and partitions (a removed, revoked or re-trusted tenant loses its own).
 * 5. `pools`: upstream pools of withdrawn tenants close; the app pool follows `idle`.
 * 6. `anomaly`: thresholds, windows and alert receivers.
 * 7. `revocation`: connections whose peer the new generation no longer trusts are cut, once
 *    everything they could reach already follows it.
 * 8. `watcher`: the files the new generation names are watched from now on.
 */
import type { Generation, TenantChanges } from "../config/generation.js";

export const SUBSCRIBER_ORDER = [
  "logs",
  "listeners",
  "metrics",
  "cache",
  "pools",
  "anomaly",
  "revocation",
  "watcher",
] as const;

export type SubscriberName = (typeof SUBSCRIBER_ORDER)[number];

/** One generation replacing another (on a rollback, `next` is the one restored). */
export interface GenerationChange {
  readonly previous: Generation;
  readonly next: Generation;
  readonly reason: string;
  readonly tenants: TenantChanges;
}

export interface Subscriber {
  /**
   * Before the swap, for what can fail (a secure context that will not build): throwing
   * refuses the reload while nothing has changed yet.
   */
  prepare?(change: GenerationChange): void;
  /**
   * Makes `change.next` effective for this part; what it returns joins the `config
   * reloaded` line. Must be a function of `next` alone, so that applying the previous
   * generation again undoes it: a reload whose step throws is rolled back that way.
   */
  // `| void` lets a subscriber that has nothing to report be a plain void function.
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  apply(change: GenerationChange): Record<string, unknown> | void;
}
