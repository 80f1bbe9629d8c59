/**
 * Distinct target tenants one caller was refused for within the window, newest last.
 * A Map keeps insertion order, so re-inserting on every hit makes it an LRU: expiry and
 * the size cap both trim from the front, amortised O(1) per event.
 */
export class RecentTargets {
  private readonly seen = new Map<string, number>();

  get size(): number {
    return this.seen.size;
  }

  /** Records `target` at `now` and returns how many distinct targets are in the window. */
  add(target: string, now: number, windowMs: number, cap: number): number {
    this.seen.delete(target);
    this.seen.set(target, now);
    this.trim(now, windowMs, cap);
    return this.seen.size;
  }

  list(): string[] {
    return [...this.seen.keys()];
  }

  /** Drops targets older than the window, then the oldest beyond `cap`. */
  trim(now: number, windowMs: number, cap: number): void {
    const cutoff = now - windowMs;
    for (const [target, at] of this.seen) {
      if (at > cutoff && this.seen.size <= cap) break;
      this.seen.delete(target);
    }
  }
}
