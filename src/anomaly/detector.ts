/**
 * Per caller tenant, judges windowed counts of suspicious events against an absolute
 * threshold AND the tenant's own baseline, so a tenant with a steady trickle of denials
 * (a client with a stale grant) is not paged every window while a sudden burst is.
 * `record()` sits on the request path: O(1), no I/O, never throws.
 */
import type { AnomalyConfig } from "../config/schema.js";
import type { AlertKind, AlertSink, AnomalyAlert, SuspiciousEvent } from "./alert.js";
import type { RecentTargets } from "./recent-targets.js";
import { COUNTED_AS, TenantState, type CountedKind } from "./tenant-state.js";

export type DetectorSettings = Pick<
  AnomalyConfig,
  "window" | "threshold" | "probeTargets" | "quietPeriod" | "baselineFactor"
>;

export interface AnomalyDetectorOptions {
  readonly settings: DetectorSettings;
  readonly sink: AlertSink;
  /** Wall-clock epoch ms; alert timestamps come from it. Default `Date.now`. */
  readonly now?: () => number;
  /** How often quiet alerts are resolved; 0 disables the timer (call `tick()`). Default 1s. */
  readonly tickIntervalMs?: number;
  /** Tenants tracked at once; any beyond are counted as "unknown". Default 1024. */
  readonly maxTenants?: number;
  /** Weight of the newest completed window in the baseline EWMA. Default 0.3. */
  readonly baselineAlpha?: number;
  readonly onError?: (error: unknown) => void;
}

export interface DetectorStats {
  readonly tenants: number;
  readonly targets: number;
  readonly firing: number;
}

interface Measure {
  readonly observed: number;
  readonly threshold: number;
  readonly baselineBar: number;
  readonly targets?: RecentTargets;
}

const UNKNOWN = "unknown";
/** Tenant ids are DNS labels; anything longer is not one and must not grow memory. */
const MAX_LABEL = 63;

export class AnomalyDetector {
  private settings: DetectorSettings;
  private readonly tenants = new Map<string, TenantState>();
  private readonly now: () => number;
  private readonly maxTenants: number;
  private readonly alpha: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: AnomalyDetectorOptions) {
    this.settings = pickSettings(options.settings);
    this.now = options.now ?? Date.now;
    this.maxTenants = options.maxTenants ?? 1024;
    this.alpha = options.baselineAlpha ?? 0.3;
    const interval = options.tickIntervalMs ?? 1_000;
    // unref: a pending resolution must never keep a draining process alive.
    this.timer = interval > 0 ? setInterval(() => this.tick(), interval).unref() : undefined;
  }

  record(event: SuspiciousEvent): void {
    if (this.closed) return;
    try {
      this.count(event);
    } catch (error) {
      this.report(error);
    }
  }

  /** Resolves alerts whose quiet period has passed and forgets idle tenants. */
  tick(): void {
    try {
      const now = this.now();
      const { window, quietPeriod, probeTargets } = this.settings;
      for (const [label, state] of this.tenants) {
        for (const [kind, firing] of state.firing) {
          if (now - firing.lastAnomalousAt < quietPeriod) continue;
          state.firing.delete(kind);
          this.notify("resolved", { ...firing.alert, endsAt: now });
        }
        state.targets.trim(now, window, probeTargets);
        if (state.isForgettable(now, window)) this.tenants.delete(label);
      }
    } catch (error) {
      this.report(error);
    }
  }

  /** New limits apply to the next event; firing alerts and baselines carry over. */
  reconfigure(settings: DetectorSettings): void {
    const ratio = settings.window / this.settings.window;
    if (ratio !== 1) for (const state of this.tenants.values()) state.rescale(ratio);
    this.settings = pickSettings(settings);
  }

  activeAlerts(): AnomalyAlert[] {
    const alerts: AnomalyAlert[] = [];
    for (const state of this.tenants.values()) {
      for (const firing of state.firing.values()) alerts.push(firing.alert);
    }
    return alerts;
  }

  stats(): DetectorStats {
    let targets = 0;
    let firing = 0;
    for (const state of this.tenants.values()) {
      targets += state.targets.size;
      firing += state.firing.size;
    }
    return { tenants: this.tenants.size, targets, firing };
  }

  /**
   * Stops the timer. Firing alerts are deliberately not resolved: the attack did not end
   * because this pod did, and Alertmanager expires them when re-sends stop.
   */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private count(event: SuspiciousEvent): void {
    // Typed callers cannot send other kinds; untyped ones are ignored, not trusted.
    const counted = COUNTED_AS[event.kind] as readonly CountedKind[] | undefined;
    if (counted === undefined) return;
    const now = this.now();
    const state = this.stateFor(event.tenant, now);
    state.lastEventAt = now;
    const { window, threshold, baselineFactor, probeTargets } = this.settings;
    for (const kind of counted) {
      const rate = state.rate(kind);
      const observed = rate.add(now, window, this.alpha);
      const baselineBar = rate.baseline * baselineFactor;
      if (observed >= threshold && observed > baselineBar) {
        this.anomalous(state, kind, now, event, { observed, threshold, baselineBar });
      }
    }
    if (typeof event.target === "string") {
      const target = event.target.slice(0, MAX_LABEL);
      const distinct = state.targets.add(target, now, window, probeTargets);
      if (distinct >= probeTargets) {
        const measure = { observed: distinct, threshold: probeTargets, baselineBar: 0 };
        this.anomalous(state, "target_probing", now, event, { ...measure, targets: state.targets });
      }
    }
  }

  private stateFor(tenant: string, now: number): TenantState {
    let label = typeof tenant === "string" && tenant.length <= MAX_LABEL ? tenant : UNKNOWN;
    let state = this.tenants.get(label);
    if (state !== undefined) return state;
    // At the cap, newcomers share "unknown" rather than evicting a tracked tenant: evicting
    // would let a noisy caller reset someone's alert state.
    if (this.tenants.size >= this.maxTenants) label = UNKNOWN;
    state = this.tenants.get(label);
    if (state === undefined) {
      state = new TenantState(label, now);
      this.tenants.set(label, state);
    }
    return state;
  }

  private anomalous(
    state: TenantState,
    kind: AlertKind,
    now: number,
    event: SuspiciousEvent,
    measure: Measure,
  ): void {
    const firing = state.firing.get(kind);
    if (firing !== undefined) {
      firing.lastAnomalousAt = now;
      return;
    }
    const alert: AnomalyAlert = {
      tenant: state.tenant,
      kind,
      startsAt: now,
      observed: measure.observed,
      threshold: measure.threshold,
      baselineBar: measure.baselineBar,
      windowMs: this.settings.window,
      ...(measure.targets ? { targets: measure.targets.list() } : {}),
      ...(typeof event.requestId === "string" ? { requestId: event.requestId } : {}),
    };
    state.firing.set(kind, { alert, lastAnomalousAt: now });
    this.notify("fired", alert);
  }

  private notify(what: "fired" | "resolved", alert: AnomalyAlert): void {
    try {
      this.options.sink[what](alert);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError?.(error);
    } catch {
      // The error reporter failing must not reach the request path either.
    }
  }
}

function pickSettings(s: DetectorSettings): DetectorSettings {
  return {
    window: s.window,
    threshold: s.threshold,
    probeTargets: s.probeTargets,
    quietPeriod: s.quietPeriod,
    baselineFactor: s.baselineFactor,
  };
}
