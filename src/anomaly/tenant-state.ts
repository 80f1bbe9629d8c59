/**
 * Everything the detector remembers about one caller tenant: a rate window per counted
 * alert kind, the targets it was recently refused for, and its firing alerts.
 */
import type { AlertKind, AnomalyAlert, SuspiciousEventKind } from "./alert.js";
import { RateWindow } from "./rate-window.js";
import { RecentTargets } from "./recent-targets.js";

/** Alert kinds judged by counting events (probing is judged by distinct targets). */
export type CountedKind = Exclude<AlertKind, "target_probing">;

/** Which counts an event feeds. A mismatch is both a denial and a forged context. */
export const COUNTED_AS: Readonly<Record<SuspiciousEventKind, readonly CountedKind[]>> = {
  cross_tenant_denied: ["denial_burst"],
  tenant_context_mismatch: ["denial_burst", "context_spoofing"],
  spoofed_header: ["context_spoofing"],
  tenant_context_invalid: ["context_spoofing"],
  handshake_failure: ["handshake_failures"],
};

export interface FiringAlert {
  readonly alert: AnomalyAlert;
  /** Last event that still met the bar; the quiet period counts from here. */
  lastAnomalousAt: number;
}

export class TenantState {
  private readonly rates = new Map<CountedKind, RateWindow>();
  readonly targets = new RecentTargets();
  readonly firing = new Map<AlertKind, FiringAlert>();
  lastEventAt: number;

  constructor(
    /** The label used in alerts and metrics. */
    readonly tenant: string,
    now: number,
  ) {
    this.lastEventAt = now;
  }

  rate(kind: CountedKind): RateWindow {
    let rate = this.rates.get(kind);
    if (rate === undefined) {
      rate = new RateWindow();
      this.rates.set(kind, rate);
    }
    return rate;
  }

  rescale(ratio: number): void {
    for (const rate of this.rates.values()) rate.rescale(ratio);
  }

  /** Nothing firing and every baseline decayed: safe to forget to keep memory small. */
  isForgettable(now: number, windowMs: number): boolean {
    if (this.firing.size > 0) return false;
    for (const rate of this.rates.values()) if (!rate.isIdle(now, windowMs)) return false;
    return now - this.lastEventAt > windowMs;
  }
}
