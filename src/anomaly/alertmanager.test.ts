import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findAlertmanager,
  freePort,
  startAlertmanager,
  type RunningAlertmanager,
} from "../../test/support/alertmanager.js";
import { createAnomalyAlerting, type AnomalyAlertingDeps } from "./alerting.js";
import { ALERTNAME, toPostableAlert } from "./alertmanager.js";
import type { SuspiciousEvent } from "./alert.js";
import { BASE_CONFIG, recordingLogger, recordingMetrics } from "./test-support.js";

interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

const HAVE_BINARY = findAlertmanager() !== undefined;

async function alertsFor(am: RunningAlertmanager, tenant: string): Promise<GettableAlert[]> {
  const filter = encodeURIComponent(`tenant="${tenant}"`);
  const res = await fetch(`${am.url}/api/v2/alerts?active=true&filter=${filter}`);
  expect(res.status).toBe(200);
  return (await res.json()) as GettableAlert[];
}

function deps(overrides: Partial<AnomalyAlertingDeps> = {}) {
  const logger = recordingLogger();
  const metrics = recordingMetrics();
  const d: AnomalyAlertingDeps = {
    service: "orders",
    instance: "orders-7d9f-abcde",
    generatorURL: "http://orders-7d9f-abcde:15000/tenants",
    logger,
    metrics,
    tickIntervalMs: 20,
    delivery: { timeoutMs: 2_000, backoffBaseMs: 50 },
    ...overrides,
  };
  return { deps: d, logger, metrics };
}

const burst = (tenant: string, n: number, kind: SuspiciousEvent["kind"] = "cross_tenant_denied") =>
  Array.from({ length: n }, (_, i) => ({ tenant, kind, requestId: `${tenant}-${i}` }));

// Without the binary, skip locally but fail loudly in CI, where a skip would hide a gap.
describe.skipIf(!HAVE_BINARY && !process.env.CI)(
  "Alertmanager sink against a real Alertmanager",
  () => {
    let am: RunningAlertmanager;

    beforeAll(async () => {
      if (!HAVE_BINARY) {
        throw new Error(
          "CI is set but prometheus-alertmanager (or alertmanager) is not on PATH: install it",
        );
      }
      am = await startAlertmanager();
    });
    afterAll(async () => {
      await am?.stop();
    });

    it("fires an alert visible in /api/v2/alerts, then resolves it", async () => {
      const { deps: d, metrics, logger } = deps();
      const alerting = createAnomalyAlerting(
        { ...BASE_CONFIG, quietPeriod: 600, alertmanager: am.url },
        d,
      );
      try {
        const started = performance.now();
        for (const event of burst("globex", 3)) alerting.record(event);
        await expect
          .poll(() => alertsFor(am, "globex"), { timeout: 10_000, interval: 10 })
          .toHaveLength(1);
        const latency = performance.now() - started;
        console.info(`first event -> alert visible in Alertmanager: ${latency.toFixed(1)} ms`);

        const [alert] = await alertsFor(am, "globex");
        expect(alert?.labels).toEqual({
          alertname: ALERTNAME,
          tenant: "globex",
          kind: "denial_burst",
          service: "orders",
          instance: "orders-7d9f-abcde",
          severity: "warning",
        });
        expect(alert?.status.state).toBe("active");
        expect(alert?.annotations.summary).toContain("globex");
        expect(alert?.annotations.description).toContain("globex-2");
        expect(metrics.calls).toEqual([
          "fired globex denial_burst",
          "active globex denial_burst 1",
        ]);
        expect(logger.lines[0]).toMatchObject({
          level: "warn",
          obj: { event: "anomaly_alert", status: "firing" },
        });

        // Quiet for 600 ms: the detector's own timer resolves it and Alertmanager drops it.
        await expect
          .poll(() => alertsFor(am, "globex"), { timeout: 10_000, interval: 50 })
          .toEqual([]);
        expect(metrics.calls.at(-1)).toBe("active globex denial_burst 0");
      } finally {
        await alerting.close(2_000);
      }
    });

    it("keeps a long-firing alert alive by re-sending it before it expires", async () => {
      const { deps: d } = deps({ resendIntervalMs: 150 });
      const alerting = createAnomalyAlerting({ ...BASE_CONFIG, alertmanager: am.url }, d);
      try {
        for (const event of burst("initech", 3, "spoofed_header")) alerting.record(event);
        await expect
          .poll(() => alertsFor(am, "initech"), { timeout: 10_000, interval: 10 })
          .toHaveLength(1);
        const first = (await alertsFor(am, "initech"))[0];
        // Expiry is 4 re-send intervals (600 ms); outlive it several times over.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const later = await alertsFor(am, "initech");
        expect(later).toHaveLength(1);
        expect(later[0]?.labels.severity).toBe("critical");
        expect(later[0]?.startsAt).toBe(first?.startsAt);
        expect(Date.parse(later[0]?.endsAt ?? "")).toBeGreaterThan(Date.parse(first?.endsAt ?? ""));
      } finally {
        await alerting.close(2_000);
      }
    });

    it("accepts the postable alert shape for every kind", async () => {
      const source = { service: "orders", instance: "i", generatorURL: "urn:palisade:orders" };
      const now = Date.now();
      const kinds = [
        "denial_burst",
        "target_probing",
        "context_spoofing",
        "handshake_failures",
      ] as const;
      const body = kinds.map((kind) =>
        toPostableAlert(
          {
            tenant: "umbrella",
            kind,
            startsAt: now,
            observed: 5,
            threshold: 5,
            baselineBar: 0,
            windowMs: 60_000,
            targets: ["a"],
          },
          source,
          now,
          60_000,
        ),
      );
      const res = await fetch(`${am.url}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      expect((await alertsFor(am, "umbrella")).map((a) => a.labels.kind).sort()).toEqual(
        [...kinds].sort(),
      );
    });
  },
);

describe("an unreachable Alertmanager", () => {
  it("never blocks record(), and the queue stays bounded", async () => {
    const port = await freePort(); // closed: every attempt is refused
    const dropped: string[] = [];
    const { deps: d } = deps({
      deliveryDropped: (sink, reason) => dropped.push(`${sink} ${reason}`),
    });
    const alerting = createAnomalyAlerting(
      { ...BASE_CONFIG, queueSize: 5, alertmanager: `http://127.0.0.1:${port}` },
      d,
    );
    const kinds = ["cross_tenant_denied", "spoofed_header", "handshake_failure"] as const;
    const started = performance.now();
    // 200 events per tenant: every tenant crosses every bar, with a wide margin on time even
    // on a loaded 2-core CI runner (the bound below is about blocking, not speed).
    for (let i = 0; i < 20_000; i++) {
      alerting.record({
        tenant: `t${i % 100}`,
        kind: kinds[i % 3] ?? "cross_tenant_denied",
        target: `x${i % 7}`,
      });
    }
    const elapsed = performance.now() - started;
    console.info(`20k record() calls against a dead Alertmanager: ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(5_000);

    const stats = alerting.deliveryStats().alertmanager;
    expect(stats?.waiting).toBeLessThanOrEqual(5);
    expect(alerting.detector.activeAlerts()).toHaveLength(400); // 100 tenants x 4 kinds
    expect(dropped.filter((x) => x === "alertmanager overflow").length).toBeGreaterThanOrEqual(
      395 - 5,
    );

    const closing = performance.now();
    await alerting.close(300);
    expect(performance.now() - closing).toBeLessThan(2_000);
  });
});
