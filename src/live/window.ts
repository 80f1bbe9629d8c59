/**
 * A sliding window of per-second buckets for one (direction, tenant, peer): requests,
 * successes, denials and a latency histogram, in typed arrays sized once. A bucket is reused
 * when its second comes round again, so memory is fixed however many requests arrive.
 */

/** Histogram upper bounds in ms: 0.1 ms × 1.25^k up to a minute (±12 % at any quantile). */
export const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 0.1; b < 60_000; b *= 1.25) bounds.push(Math.round(b * 1000) / 1000);
  return bounds;
})();
/** One more bucket for anything slower than the last bound. */
const SLOTS = LATENCY_BOUNDS_MS.length + 1;

export interface WindowTotals {
  requests: number;
  successes: number;
  denials: number;
  /** Latency quantiles in ms (bucket upper bounds); undefined with no request. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

export class SecondsWindow {
  readonly #seconds: number;
  /** The second each bucket holds; -1 for never used. */
  readonly #stamp: Float64Array;
  readonly #requests: Uint32Array;
  readonly #successes: Uint32Array;
  readonly #denials: Uint32Array;
  readonly #latency: Uint32Array;

  constructor(seconds: number) {
    this.#seconds = seconds;
    this.#stamp = new Float64Array(seconds).fill(-1);
    this.#requests = new Uint32Array(seconds);
    this.#successes = new Uint32Array(seconds);
    this.#denials = new Uint32Array(seconds);
    this.#latency = new Uint32Array(seconds * SLOTS);
  }

  add(nowMs: number, ms: number, success: boolean, denied: boolean): void {
    const i = this.#bucket(Math.floor(nowMs / 1000));
    bump(this.#requests, i);
    if (success) bump(this.#successes, i);
    if (denied) bump(this.#denials, i);
    bump(this.#latency, i * SLOTS + slotOf(ms));
  }

  /** Sums over the buckets of the last `seconds` seconds, the current one included. */
  totals(nowMs: number): WindowTotals {
    const second = Math.floor(nowMs / 1000);
    const merged = new Uint32Array(SLOTS);
    const totals: WindowTotals = {
      requests: 0,
      successes: 0,
      denials: 0,
      p50Ms: undefined,
      p99Ms: undefined,
    };
    for (let i = 0; i < this.#seconds; i++) {
      const stamp = this.#stamp[i] ?? -1;
      const age = second - stamp;
      if (stamp === -1 || age < 0 || age >= this.#seconds) continue;
      totals.requests += this.#requests[i] ?? 0;
      totals.successes += this.#successes[i] ?? 0;
      totals.denials += this.#denials[i] ?? 0;
      for (let s = 0; s < SLOTS; s++)
        merged[s] = (merged[s] ?? 0) + (this.#latency[i * SLOTS + s] ?? 0);
    }
    totals.p50Ms = quantile(merged, totals.requests, 0.5);
    totals.p99Ms = quantile(merged, totals.requests, 0.99);
    return totals;
  }

  /** The bucket for `second`, cleared first if it last held an older second. */
  #bucket(second: number): number {
    const i = second % this.#seconds;
    if (this.#stamp[i] !== second) {
      this.#stamp[i] = second;
      this.#requests[i] = 0;
      this.#successes[i] = 0;
      this.#denials[i] = 0;
      this.#latency.fill(0, i * SLOTS, (i + 1) * SLOTS);
    }
    return i;
  }
}

function slotOf(ms: number): number {
  // Binary search: the first bound at or above ms.
  let lo = 0;
  let hi = LATENCY_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((LATENCY_BOUNDS_MS[mid] ?? Infinity) < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function quantile(counts: Uint32Array, total: number, q: number): number | undefined {
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let s = 0; s < counts.length; s++) {
    seen += counts[s] ?? 0;
    // The overflow slot reports the last bound: "a minute or more".
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(s, LATENCY_BOUNDS_MS.length - 1)];
  }
  return undefined;
}

function bump(counts: Uint32Array, i: number): void {
  counts[i] = (counts[i] ?? 0) + 1;
}
