/**
 * Events per window for one (tenant, kind), in O(1) time and space: the count of the
 * current fixed window plus the previous one weighted by how much of it still overlaps a
 * sliding window (the estimate Cloudflare and nginx use), and an EWMA of completed windows
 * as the tenant's own baseline.
 */
export class RateWindow {
  private epoch: number | undefined;
  private current = 0;
  private previous = 0;
  /** Events per window the tenant normally produces; 0 until a window completes. */
  private ewma = 0;

  get baseline(): number {
    return this.ewma;
  }

  /** Counts one event at `now` and returns the sliding estimate including it. */
  add(now: number, windowMs: number, alpha: number): number {
    this.roll(now, windowMs, alpha);
    this.current += 1;
    return this.estimate(now, windowMs);
  }

  /** The sliding-window estimate at `now`, assuming `roll` already ran for `now`. */
  private estimate(now: number, windowMs: number): number {
    const into = (now - (this.epoch ?? 0) * windowMs) / windowMs;
    const overlap = Math.min(1, Math.max(0, 1 - into));
    return this.current + this.previous * overlap;
  }

  /** Folds completed windows into the baseline; windows with no events count as zeros. */
  private roll(now: number, windowMs: number, alpha: number): void {
    const epoch = Math.floor(now / windowMs);
    if (this.epoch === undefined) {
      this.epoch = epoch;
      return;
    }
    // A clock that steps back keeps counting into the current window rather than
    // rewriting history.
    if (epoch <= this.epoch) return;
    const completed = this.current;
    const skipped = epoch - this.epoch - 1;
    this.ewma += alpha * (completed - this.ewma);
    if (skipped > 0) this.ewma *= Math.pow(1 - alpha, skipped);
    this.previous = skipped === 0 ? completed : 0;
    this.current = 0;
    this.epoch = epoch;
  }

  /**
   * The window length changed: keep the baseline in the new unit (events per new window)
   * and start counting afresh, since old epochs mean nothing in the new grid.
   */
  rescale(ratio: number): void {
    this.ewma *= ratio;
    this.current = 0;
    this.previous = 0;
    this.epoch = undefined;
  }

  /** True when forgetting this window changes nothing that matters. */
  isIdle(now: number, windowMs: number): boolean {
    return this.epoch === undefined || now - this.epoch * windowMs > 16 * windowMs;
  }
}
