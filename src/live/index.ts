/**
 * The live view's parts, made once per process (runtime/compose.ts): the statistics and
 * the feed that fills them. Sizes are fixed here; docs/live-view.md explains each.
 */
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { RequestFeed } from "./feed.js";
import { LiveStats } from "./stats.js";

export interface LiveView {
  readonly feed: RequestFeed;
  readonly stats: LiveStats;
  readonly now: () => number;
}

export interface LiveViewOptions {
  label: (tenant: string | undefined) => string;
  now: () => number;
  /** Where the dropped-stream counter is registered (the sidecar's metrics registry). */
  registry: Registry;
  /** The event log: a dropped stream is a warn line. */
  log: Logger;
}

/** `/events` streams open at once. */
export const MAX_SUBSCRIBERS = 16;
/** Unsent bytes per stream before it is dropped: a few hundred events. */
export const MAX_BACKLOG_BYTES = 256 * 1024;

export function createLiveView(options: LiveViewOptions): LiveView {
  const dropped = new Counter({
    name: "palisade_admin_streams_dropped_total",
    help: "Admin /events streams cut because their reader fell behind",
    registers: [options.registry],
  });
  const stats = new LiveStats({
    label: options.label,
    windowSeconds: 10,
    maxPeersPerTenant: 16,
    maxKeys: 1024,
  });
  const feed = new RequestFeed({
    stats,
    now: options.now,
    maxSubscribers: MAX_SUBSCRIBERS,
    maxBacklogBytes: MAX_BACKLOG_BYTES,
    recentDenials: 50,
    onDropped: (filter, backlog) => {
      dropped.inc();
      options.log.warn(
        { tenant: filter.tenant, decision: filter.decision, backlog },
        "admin event stream dropped: the reader fell behind",
      );
    },
  });
  return { feed, stats, now: options.now };
}
