import { describe, expect, it } from "vitest";
import type { AlertSink, AnomalyAlert, SuspiciousEvent } from "./alert.js";
import { AnomalyDetector, type DetectorSettings } from "./detector.js";

const SETTINGS: DetectorSettings = {
  window: 60_000,
  threshold: 10,
  probeTargets: 5,
  quietPeriod: 120_000,
  baselineFactor: 3,
};

function harness(settings: Partial<DetectorSettings> = {}, maxTenants?: number) {
  let now = 1_700_000_000_000;
  const fired: AnomalyAlert[] = [];
  const resolved: AnomalyAlert[] = [];
  const sink: AlertSink = { fired: (a) => fired.push(a), resolved: (a) => resolved.push(a) };
  const detector = new AnomalyDetector({
    settings: { ...SETTINGS, ...settings },
    sink,
    now: () => now,
    tickIntervalMs: 0,
    ...(maxTenants !== undefined ? { maxTenants } : {}),
  });
  const start = now;
  return {
    detector,
    fired,
    resolved,
    start,
    advance: (ms: number) => (now += ms),
    at: () => now,
    times: (n: number, event: SuspiciousEvent, everyMs = 0) => {
      for (let i = 0; i < n; i++) {
        detector.record(event);
        now += everyMs;
      }
    },
  };
}

const denied = (tenant = "globex", target?: string): SuspiciousEvent => ({
  tenant,
  kind: "cross_tenant_denied",
  ...(target !== undefined ? { target } : {}),
});

describe("AnomalyDetector", () => {
  it("stays quiet below the threshold", () => {
    const h = harness();
    h.times(9, denied(), 100);
    expect(h.fired).toEqual([]);
  });

  it("fires a burst once per (tenant, kind), naming the tipping request", () => {
    const h = harness();
    h.times(9, denied(), 10);
    h.detector.record({ tenant: "globex", kind: "cross_tenant_denied", requestId: "req-10" });
    h.times(40, denied(), 10);
    expect(h.fired).toHaveLength(1);
    expect(h.fired[0]).toMatchObject({
      tenant: "globex",
      kind: "denial_burst",
      observed: 10,
      threshold: 10,
      baselineBar: 0,
      requestId: "req-10",
      startsAt: h.start + 90,
    });
    expect(h.detector.activeAlerts()).toHaveLength(1);
  });

  it("keeps tenants and kinds apart; a mismatch is both a denial and a forged context", () => {
    const h = harness();
    h.times(10, denied("globex"));
    h.times(10, denied("initech"));
    h.times(10, { tenant: "acme", kind: "tenant_context_mismatch" });
    h.times(10, { tenant: "acme", kind: "handshake_failure" });
    const pairs = h.fired.map((a) => `${a.tenant}/${a.kind}`).sort();
    expect(pairs).toEqual([
      "acme/context_spoofing",
      "acme/denial_burst",
      "acme/handshake_failures",
      "globex/denial_burst",
      "initech/denial_burst",
    ]);
  });

  it("resolves after the quiet period, and only then", () => {
    const h = harness();
    h.times(20, denied(), 100);
    const lastBurstEvent = h.at() - 100;
    h.advance(SETTINGS.quietPeriod - 200);
    h.detector.tick();
    expect(h.resolved).toEqual([]);
    h.advance(100);
    h.detector.tick();
    expect(h.resolved).toHaveLength(1);
    expect(h.resolved[0]).toMatchObject({
      kind: "denial_burst",
      endsAt: lastBurstEvent + SETTINGS.quietPeriod,
    });
    expect(h.detector.activeAlerts()).toEqual([]);
    h.detector.tick();
    expect(h.resolved).toHaveLength(1);
  });

  it("extends a firing alert while events keep meeting the bar, and fires anew after resolving", () => {
    const h = harness({ quietPeriod: 10_000 });
    h.times(10, denied());
    h.advance(8_000);
    h.detector.record(denied()); // still 11 in the window: anomalous, extends
    h.advance(8_000);
    h.detector.tick();
    expect(h.resolved).toHaveLength(0);
    h.advance(3_000);
    h.detector.tick();
    expect(h.resolved).toHaveLength(1);
    h.advance(SETTINGS.window * 3);
    h.times(10, denied());
    expect(h.fired).toHaveLength(2);
  });

  it("learns a steady rate as the baseline but still catches a burst on top of it", () => {
    const h = harness();
    // 30 denials a minute, every minute, for 10 minutes: 3x the threshold.
    h.times(300, denied(), 2_000);
    h.detector.tick();
    // A fresh tenant has no baseline, so its first window fires (cold start); it settles.
    const steadyFires = h.fired.length;
    expect(steadyFires).toBe(1);
    expect(h.detector.activeAlerts()).toEqual([]);
    expect(h.fired.every((a) => a.startsAt < h.start + 2 * SETTINGS.window)).toBe(true);

    // Same rate for another 5 minutes: nothing new.
    h.times(150, denied(), 2_000);
    expect(h.fired).toHaveLength(steadyFires);

    // Now a burst: 150 in 15 seconds on top of the usual.
    h.times(150, denied(), 100);
    expect(h.fired).toHaveLength(steadyFires + 1);
    const burst = h.fired.at(-1);
    expect(burst?.baselineBar).toBeGreaterThan(60);
    expect(burst?.observed).toBeGreaterThan(burst?.baselineBar ?? Infinity);
  });

  it("flags the same steady rate without a baseline (absolute threshold only)", () => {
    const h = harness({ baselineFactor: 0.000_001 });
    h.times(300, denied(), 2_000);
    expect(h.detector.activeAlerts()).toHaveLength(1);
  });

  it("lets the baseline decay over idle windows", () => {
    const h = harness();
    h.times(600, denied(), 1_000); // 60/min for 10 minutes
    h.advance(SETTINGS.quietPeriod + SETTINGS.window);
    h.detector.tick();
    const before = h.fired.length;
    h.advance(20 * SETTINGS.window); // long silence: back to a cold baseline
    h.times(12, denied(), 100);
    expect(h.fired).toHaveLength(before + 1);
  });

  it("detects probing across distinct targets within one window", () => {
    const h = harness();
    for (const target of ["acme", "initech", "umbrella", "hooli"])
      h.detector.record(denied("globex", target));
    h.detector.record(denied("globex", "acme"));
    expect(h.fired).toEqual([]);
    h.detector.record(denied("globex", "soylent"));
    expect(h.fired).toHaveLength(1);
    expect(h.fired[0]).toMatchObject({ kind: "target_probing", observed: 5, threshold: 5 });
    expect([...(h.fired[0]?.targets ?? [])].sort()).toEqual([
      "acme",
      "hooli",
      "initech",
      "soylent",
      "umbrella",
    ]);
  });

  it("does not call it probing when the targets are spread over several windows", () => {
    const h = harness();
    for (const target of ["a", "b", "c", "d", "e", "f", "g", "h"]) {
      h.detector.record(denied("globex", target));
      h.advance(SETTINGS.window / 3);
    }
    expect(h.fired.filter((a) => a.kind === "target_probing")).toEqual([]);
  });

  it("keeps memory bounded under 100k events with random tenants and targets", () => {
    const h = harness({ threshold: 1_000_000, probeTargets: 8 }, 64);
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) {
      const tenant = `t${Math.floor(random() * 1_000)}`;
      const target = random().toString(36).slice(2) + "x".repeat(Math.floor(random() * 200));
      h.detector.record({ tenant, kind: "cross_tenant_denied", target });
      h.advance(1);
    }
    const elapsed = performance.now() - started;
    const stats = h.detector.stats();
    expect(stats.tenants).toBeLessThanOrEqual(65); // the cap plus the shared "unknown"
    expect(stats.targets).toBeLessThanOrEqual(65 * 8);
    expect(stats.firing).toBeLessThanOrEqual(65 * 4);
    expect(h.fired.every((a) => (a.targets ?? []).every((t) => t.length <= 63))).toBe(true);
    // ~0.5 s on an idle 2-core machine. The bound catches per-event work that grows with
    // history (quadratic: minutes), not a slow runner: a loaded CI box ran this at 5 s.
    expect(elapsed).toBeLessThan(20_000);
    // Idle tenants are forgotten once their baselines have decayed.
    h.advance(20 * SETTINGS.window + SETTINGS.quietPeriod);
    h.detector.tick();
    expect(h.detector.stats()).toEqual({ tenants: 0, targets: 0, firing: 0 });
  });

  it("never throws from record(): broken sinks, junk events, after close", () => {
    const errors: unknown[] = [];
    const detector = new AnomalyDetector({
      settings: { ...SETTINGS, threshold: 1 },
      sink: {
        fired: () => {
          throw new Error("sink down");
        },
        resolved: () => {},
      },
      tickIntervalMs: 0,
      onError: (e) => errors.push(e),
    });
    expect(() => detector.record(denied())).not.toThrow();
    expect(errors).toHaveLength(1);
    const junk = [
      { tenant: "x", kind: "nonsense" },
      { tenant: 42, kind: "cross_tenant_denied" },
      { tenant: "y", kind: "spoofed_header", target: 7 },
      null,
    ] as unknown as SuspiciousEvent[];
    for (const event of junk) expect(() => detector.record(event)).not.toThrow();
    detector.close();
    expect(() => detector.record(denied())).not.toThrow();
  });

  it("applies a reconfigured threshold and window to the next event", () => {
    const h = harness();
    h.detector.reconfigure({ ...SETTINGS, threshold: 50, window: 30_000 });
    h.times(40, denied());
    expect(h.fired).toEqual([]);
    h.times(10, denied());
    expect(h.fired).toHaveLength(1);
    expect(h.fired[0]?.windowMs).toBe(30_000);
  });

  it("resolves on its own timer, which does not hold the process open", async () => {
    const resolved: AnomalyAlert[] = [];
    const detector = new AnomalyDetector({
      settings: { ...SETTINGS, threshold: 1, quietPeriod: 30 },
      sink: { fired: () => {}, resolved: (a) => resolved.push(a) },
      tickIntervalMs: 10,
    });
    detector.record(denied());
    await expect.poll(() => resolved.length, { timeout: 2_000, interval: 10 }).toBe(1);
    detector.close();
  });
});
