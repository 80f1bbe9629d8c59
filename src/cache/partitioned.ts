/**
 * One LRU per tenant, plus a global byte cap, arranged so that no tenant can read or evict
 * another tenant's entries.
 *
 * Global cap policy: an insertion that would push the total over the cap first drops stale
 * entries (of any tenant: they can never be served, so removing them takes nothing from
 * anyone), then evicts the inserting tenant's own least recently used entries. If even an
 * empty partition would not make room, the entry is not stored. A tenant's hot set under
 * global pressure thus keeps turning over inside the share it already holds, and one tenant's
 * traffic never costs another tenant a hit. Keep the sum of tenant quotas at or below the
 * global cap and the cap is never the binding limit.
 */
import { LRUCache } from "lru-cache";
import { entrySize, matchesPrefix, type CachedResponse } from "./stored-response.js";
import { VariantIndex } from "./variant-index.js";

export interface TenantCacheLimits {
  maxBytes: number;
  maxEntries: number;
}

export interface GlobalCacheLimits {
  /** Cap over all tenants' entries together. */
  maxBytes: number;
  /** No single entry may be larger (also capped by the tenant's own maxBytes). */
  maxObjectBytes: number;
}

/** Metric callbacks; called synchronously, so keep them cheap. */
export interface CacheHooks {
  /** An entry of `tenant` was pushed out to make room (its own quota or the global cap). */
  onEvict?: (tenant: string) => void;
  /** `tenant`'s cached bytes changed to `bytes`; 0 when the tenant was removed. */
  onBytes?: (tenant: string, bytes: number) => void;
}

export type SetResult = "stored" | "too_large" | "global_cap" | "unknown_tenant";

interface Partition {
  readonly limits: TenantCacheLimits;
  readonly lru: LRUCache<string, CachedResponse>;
  readonly index: VariantIndex;
}

/** How often an insertion blocked by the global cap may scan every tenant for stale entries. */
const STALE_SWEEP_INTERVAL_MS = 1_000;

export class PartitionedCache {
  /** The clock every freshness decision uses (ms). */
  readonly now: () => number;
  #limits: GlobalCacheLimits;
  readonly #hooks: CacheHooks;
  readonly #partitions = new Map<string, Partition>();
  #total = 0;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(limits: GlobalCacheLimits, options: { now?: () => number; hooks?: CacheHooks } = {}) {
    this.#limits = { ...limits };
    this.now = options.now ?? Date.now;
    this.#hooks = options.hooks ?? {};
  }

  /** New global limits apply to later insertions; nothing is evicted to meet a lower cap. */
  setLimits(limits: GlobalCacheLimits): void {
    this.#limits = { ...limits };
  }

  /**
   * Brings partitions in line with a config generation: new tenants get an empty cache,
   * removed tenants' caches are dropped, changed quotas rebuild the partition keeping its
   * most recently used entries that still fit.
   */
  setTenants(tenants: ReadonlyMap<string, TenantCacheLimits>): void {
    for (const [tenant, partition] of this.#partitions) {
      if (tenants.has(tenant)) continue;
      this.#partitions.delete(tenant);
      this.#total -= partition.lru.calculatedSize;
      this.#hooks.onBytes?.(tenant, 0);
    }
    for (const [tenant, limits] of tenants) {
      const old = this.#partitions.get(tenant);
      if (
        old &&
        old.limits.maxBytes === limits.maxBytes &&
        old.limits.maxEntries === limits.maxEntries
      )
        continue;
      const partition = this.#makePartition(tenant, { ...limits });
      this.#partitions.set(tenant, partition);
      if (old) this.#refill(tenant, old, partition);
      else this.#hooks.onBytes?.(tenant, 0);
    }
  }

  has(tenant: string): boolean {
    return this.#partitions.has(tenant);
  }

  /** Largest entry `tenant` may store, in bytes (0 for an unknown tenant). */
  objectLimit(tenant: string): number {
    const partition = this.#partitions.get(tenant);
    return partition ? Math.min(this.#limits.maxObjectBytes, partition.limits.maxBytes) : 0;
  }

  /** A fresh entry (marking it recently used); a stale one is dropped and not returned. */
  get(tenant: string, key: string): CachedResponse | undefined {
    const partition = this.#partitions.get(tenant);
    const entry = partition?.lru.get(key);
    if (!partition || !entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.#change(tenant, partition, () => partition.lru.delete(key));
    return undefined;
  }

  /** The distinct `Vary` name lists stored for `primary`: one secondary key to try each. */
  variants(tenant: string, primary: string): readonly (readonly string[])[] {
    return this.#partitions.get(tenant)?.index.shapes(primary) ?? [];
  }

  set(tenant: string, key: string, entry: CachedResponse): SetResult {
    const partition = this.#partitions.get(tenant);
    if (!partition) return "unknown_tenant";
    const size = entrySize(key, entry);
    if (size > this.objectLimit(tenant)) return "too_large";
    // A replaced version goes first, so room-making below counts the bytes it frees.
    this.#change(tenant, partition, () => partition.lru.delete(key));
    if (!this.#makeRoom(tenant, partition, size)) return "global_cap";
    this.#change(tenant, partition, () => partition.lru.set(key, entry, { size }));
    if (partition.lru.peek(key) !== entry) return "too_large";
    partition.index.add(key, entry);
    return "stored";
  }

  delete(tenant: string, key: string): boolean {
    const partition = this.#partitions.get(tenant);
    return partition ? this.#change(tenant, partition, () => partition.lru.delete(key)) : false;
  }

  /** Removes every variant of `primary`; returns how many entries went. */
  deleteUrl(tenant: string, primary: string): number {
    const partition = this.#partitions.get(tenant);
    if (!partition) return 0;
    const keys = partition.index.keys(primary);
    return this.#change(
      tenant,
      partition,
      () => keys.filter((k) => partition.lru.delete(k)).length,
    );
  }

  /**
   * Removes `tenant`'s entries, all of them or those whose path starts with `prefix` (when it
   * starts with `/`) or whose full URL does (otherwise). Returns how many were removed.
   */
  purge(tenant: string, prefix?: string): number {
    const partition = this.#partitions.get(tenant);
    if (!partition) return 0;
    const keys: string[] = [];
    for (const [key, entry] of partition.lru.entries()) {
      if (matchesPrefix(entry, prefix)) keys.push(key);
    }
    return this.#change(
      tenant,
      partition,
      () => keys.filter((k) => partition.lru.delete(k)).length,
    );
  }

  bytes(tenant: string): number {
    return this.#partitions.get(tenant)?.lru.calculatedSize ?? 0;
  }

  entries(tenant: string): number {
    return this.#partitions.get(tenant)?.lru.size ?? 0;
  }

  totalBytes(): number {
    return this.#total;
  }

  #makePartition(tenant: string, limits: TenantCacheLimits): Partition {
    const index = new VariantIndex();
    const lru = new LRUCache<string, CachedResponse>({
      max: limits.maxEntries,
      // lru-cache needs a positive size; a 0-byte quota is enforced by objectLimit instead.
      maxSize: Math.max(1, limits.maxBytes),
      sizeCalculation: (entry, key) => entrySize(key, entry),
      dispose: (entry, key, reason) => {
        index.remove(key, entry);
        if (reason === "evict") this.#hooks.onEvict?.(tenant);
      },
    });
    return { limits, lru, index };
  }

  /** Moves `old`'s entries into `partition`, least recently used first, so recency survives. */
  #refill(tenant: string, old: Partition, partition: Partition): void {
    const limit = this.objectLimit(tenant);
    this.#total -= old.lru.calculatedSize;
    for (const key of [...old.lru.rkeys()]) {
      const entry = old.lru.peek(key);
      if (!entry) continue;
      if (entrySize(key, entry) > limit) {
        this.#hooks.onEvict?.(tenant);
        continue;
      }
      partition.lru.set(key, entry);
      if (partition.lru.peek(key) === entry) partition.index.add(key, entry);
    }
    this.#total += partition.lru.calculatedSize;
    this.#hooks.onBytes?.(tenant, partition.lru.calculatedSize);
  }

  #makeRoom(tenant: string, partition: Partition, size: number): boolean {
    const fits = (): boolean => this.#total + size <= this.#limits.maxBytes;
    if (fits()) return true;
    this.#sweepStale();
    if (fits()) return true;
    if (this.#total - partition.lru.calculatedSize + size > this.#limits.maxBytes) return false;
    this.#change(tenant, partition, () => {
      // #total is settled by #change afterwards; count what the pops have freed so far.
      const start = partition.lru.calculatedSize;
      const over = (): boolean =>
        this.#total - (start - partition.lru.calculatedSize) + size > this.#limits.maxBytes;
      while (over() && partition.lru.size > 0) partition.lru.pop();
    });
    return fits();
  }

  #sweepStale(): void {
    const now = this.now();
    if (now - this.#lastSweep < STALE_SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [tenant, partition] of this.#partitions) {
      const stale: string[] = [];
      for (const [key, entry] of partition.lru.entries())
        if (entry.expiresAt <= now) stale.push(key);
      if (stale.length > 0)
        this.#change(tenant, partition, () => stale.forEach((k) => partition.lru.delete(k)));
    }
  }

  /** Runs `op` on one partition and accounts for the bytes it added or freed. */
  #change<T>(tenant: string, partition: Partition, op: () => T): T {
    const before = partition.lru.calculatedSize;
    const result = op();
    const after = partition.lru.calculatedSize;
    if (after !== before) {
      this.#total += after - before;
      this.#hooks.onBytes?.(tenant, after);
    }
    return result;
  }
}
