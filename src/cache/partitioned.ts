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
 *
 * A configured tenant's partition (its LRU and variant index) is created on its first store,
 * not when the tenant is configured: most tenants of a large config may never cache anything.
 * Until then the tenant is known (`has`, `objectLimit`) and simply holds nothing.
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
  /** Every configured tenant's quota; a tenant is known here whether or not it has stored. */
  readonly #tenants = new Map<string, TenantCacheLimits>();
  /** Only tenants that have stored something (created on first store, kept until removed). */
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
   * Brings tenants in line with a config generation: new tenants start empty (their partition
   * is created on first store), removed tenants' caches are dropped, changed quotas rebuild the
   * partition keeping its most recently used entries that still fit.
   */
  setTenants(tenants: ReadonlyMap<string, TenantCacheLimits>): void {
    for (const tenant of this.#tenants.keys()) {
      if (tenants.has(tenant)) continue;
      this.#tenants.delete(tenant);
      const partition = this.#partitions.get(tenant);
      if (partition) {
        this.#partitions.delete(tenant);
        this.#total -= partition.lru.calculatedSize;
      }
      this.#hooks.onBytes?.(tenant, 0);
    }
    for (const [tenant, limits] of tenants) {
      const old = this.#tenants.get(tenant);
      if (old && old.maxBytes === limits.maxBytes && old.maxEntries === limits.maxEntries) continue;
      const next = { ...limits };
      this.#tenants.set(tenant, next);
      const oldPartition = this.#partitions.get(tenant);
      if (oldPartition) {
        const partition = this.#makePartition(tenant, next);
        this.#partitions.set(tenant, partition);
        this.#refill(tenant, oldPartition, partition);
      } else this.#hooks.onBytes?.(tenant, 0);
    }
  }

  has(tenant: string): boolean {
    return this.#tenants.has(tenant);
  }

  /** How many tenants have a partition: those that stored since they were configured. */
  get partitionCount(): number {
    return this.#partitions.size;
  }

  /** Largest entry `tenant` may store, in bytes (0 for an unknown tenant). */
  objectLimit(tenant: string): number {
    const limits = this.#tenants.get(tenant);
    return limits ? Math.min(this.#limits.maxObjectBytes, limits.maxBytes) : 0;
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
    const limits = this.#tenants.get(tenant);
    if (!limits) return "unknown_tenant";
    const size = entrySize(key, entry);
    if (size > this.objectLimit(tenant)) return "too_large";
    const existing = this.#partitions.get(tenant);
    // A replaced version goes first, so room-making below counts the bytes it frees.
    if (existing) this.#change(tenant, existing, () => existing.lru.delete(key));
    if (!this.#makeRoom(tenant, existing, size)) return "global_cap";
    const partition = existing ?? this.#makePartition(tenant, limits);
    if (!existing) this.#partitions.set(tenant, partition);
    const stored = this.#change(tenant, partition, () => this.#put(partition, key, entry, size));
    return stored ? "stored" : "too_large";
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
   * starts with `/`) or whose URL as called does (otherwise; see matchesPrefix). Returns how
   * many were removed.
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
      // No `max`: lru-cache would preallocate `max` slots per partition up front (~320 KiB at
      // 10,000). Without it its arrays grow with use; #put enforces maxEntries instead.
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
      this.#put(partition, key, entry, entrySize(key, entry));
    }
    this.#total += partition.lru.calculatedSize;
    this.#hooks.onBytes?.(tenant, partition.lru.calculatedSize);
  }

  /**
   * Stores `entry` as the most recently used, evicting the least recently used beyond the
   * tenant's entry count (byte quota evictions happen inside lru-cache). Whether it stayed.
   * Byte accounting is the caller's (#change, or #refill's totals).
   */
  #put(partition: Partition, key: string, entry: CachedResponse, size: number): boolean {
    partition.lru.set(key, entry, { size });
    // The new entry is the most recent, so with maxEntries >= 1 these pops never take it.
    while (partition.lru.size > partition.limits.maxEntries) partition.lru.pop();
    if (partition.lru.peek(key) !== entry) return false;
    partition.index.add(key, entry);
    return true;
  }

  /** `partition` is undefined for a tenant that has no partition yet: it has nothing to give. */
  #makeRoom(tenant: string, partition: Partition | undefined, size: number): boolean {
    const fits = (): boolean => this.#total + size <= this.#limits.maxBytes;
    if (fits()) return true;
    this.#sweepStale();
    if (fits()) return true;
    if (!partition) return false;
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
