/**
 * The live view's parts, made once per process (runtime/compose.ts): the statistics and
 * the feed that fills them. Sizes are fixed here; docs/live-view.md explains each.
 */
import { RequestFeed, type EventFilter } from "./feed.js";
import { LiveStats } from "./stats.js";

export interface LiveView {
  readonly feed: RequestFeed;
  readonly stats: LiveStats;
  readonly now: () => number;
}

export interface LiveViewOptions {
  label: (tenant: string | undefined) => string;
  now: () => number;
  onDropped: (filter: EventFilter, backlog: number) => void;
}

/** `/events` streams open at once. */
export const MAX_SUBSCRIBERS = 16;
/** Unsent bytes per stream before it is dropped: a few hundred events. */
export const MAX_BACKLOG_BYTES = 256 * 1024;

export function createLiveView(options: LiveViewOptions): LiveView {
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
    onDropped: options.onDropped,
  });
  return { feed, stats, now: options.now };
}
