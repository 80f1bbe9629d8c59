/**
 * Anomaly alerts end to end (DESIGN.md "Anomaly alerts"): real sidecars over mTLS feed the
 * detector, a real Alertmanager receives what it raises, legitimate traffic raises nothing,
 * and an Alertmanager that is down costs the request path nothing.
 */
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { ALERTNAME } from "../src/anomaly/alertmanager.js";
import { ContextTokens } from "../src/tenancy/context-token.js";
import { startApp, type TestApp } from "./support/app.js";
import {
  findAlertmanager,
  freePort,
  listAlerts,
  startAlertmanager,
  type RunningAlertmanager,
} from "./support/alertmanager.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  type Answer,
  type LogLine,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

const TENANTS = ["acme", "globex", "initech", "umbrella"] as const;
type Tenant = (typeof TENANTS)[number];

const THRESHOLD = 5;
/**
 * Bursts send one more than the threshold: the sliding estimate weights the previous window
 * by its overlap, so a burst straddling a window boundary counts a fraction under its size.
 */
const BURST = THRESHOLD + 1;
const PROBE_TARGETS = 3;
const QUIET_MS = 2_000;
/** Poll Alertmanager for this long at most; the alert is normally there in milliseconds. */
const POLL = { timeout: 10_000, interval: 10 };

const HAVE_BINARY = findAlertmanager() !== undefined;

let pki: Pki;
let app: TestApp;
let am: RunningAlertmanager;
/** Clients presenting `<tenant>/web` certificates, for the "orders" sidecars. */
const toOrders = new Map<Tenant, Agent>();
/** Clients presenting `<tenant>/orders` certificates, for the "web" sidecar. */
const toWeb = new Map<Tenant, Agent>();
const running: RunningSidecar[] = [];

function anomaly(alertmanager: string | undefined, quietPeriod = `${QUIET_MS}ms`) {
  return {
    window: "10s",
    threshold: THRESHOLD,
    probeTargets: PROBE_TARGETS,
    quietPeriod,
    ...(alertmanager !== undefined ? { alertmanager } : {}),
  };
}

async function start(
  service: "orders" | "web",
  extra: Record<string, unknown>,
): Promise<RunningSidecar> {
  const sidecar = await startSidecar({
    ...baseConfig(pki, service, [...TENANTS], app.url),
    ...extra,
  });
  running.push(sidecar);
  return sidecar;
}

const client = (clients: Map<Tenant, Agent>, tenant: Tenant) => clients.get(tenant) as Agent;

// Without the binary, skip locally but fail loudly in CI, where a skip would hide a gap.
describe.skipIf(!HAVE_BINARY && !process.env.CI)("anomaly alerts end to end", () => {
  beforeAll(async () => {
    if (!HAVE_BINARY) throw new Error("CI is set but prometheus-alertmanager is not on PATH");
    [pki, app, am] = await Promise.all([
      makePki([...TENANTS], ["orders", "web"]),
      startApp(),
      startAlertmanager(),
    ]);
    for (const tenant of TENANTS) {
      toOrders.set(tenant, await tenantClient(pki, tenant, "web", "orders"));
      toWeb.set(tenant, await tenantClient(pki, tenant, "orders", "web"));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...toOrders.values(), ...toWeb.values()].map((c) => c.close()));
    await Promise.all(running.map((s) => s.stop()));
    await Promise.all([app?.close(), am?.stop()]);
  }, 30_000);

  describe("with Alertmanager", () => {
    let orders: RunningSidecar;

    beforeAll(async () => {
      orders = await start("orders", {
        anomaly: anomaly(am.url),
        outbound: {
          listen: "127.0.0.1:0",
          // Never dialled: every call in these tests is refused before it leaves the pod.
          upstreams: {
            billing: { url: "https://127.0.0.1:9", target: { path: "/tenants/{tenant}/**" } },
          },
        },
      });
    });

    it("cross-tenant burst: one alert in Alertmanager, resolved after the quiet period", async () => {
      const labels = { tenant: "acme", kind: "denial_burst", service: "orders" };
      const acme = client(toOrders, "acme");
      // An open connection first, so the timing below is Palisade's, not the TLS handshake's.
      expect((await send(acme, `${orders.inbound}/tenants/acme/orders`)).status).toBe(200);
      const attempts: Answer[] = [];
      const answeredAt: number[] = [];
      let attacking = true;
      let lastSentAt = 0;
      const started = performance.now();
      // The attacker keeps going until the alert shows up, as a real one would.
      const attacker = (async () => {
        while (attacking && attempts.length < 500) {
          lastSentAt = performance.now();
          const path = `/tenants/globex/orders/${attempts.length}`;
          attempts.push(await send(acme, `${orders.inbound}${path}`));
          answeredAt.push(performance.now() - started);
        }
      })();
      let visibleAfter: number;
      try {
        await expect.poll(() => listAlerts(am, labels), POLL).toHaveLength(1);
        visibleAfter = performance.now() - started;
      } finally {
        attacking = false;
        await attacker;
      }

      expect(attempts.length).toBeGreaterThanOrEqual(THRESHOLD);
      for (const answer of attempts) {
        expect(answer.status).toBe(403);
        expect(answer.json()).toMatchObject({ error: "cross_tenant_denied" });
      }
      expect(app.seen.some((r) => r.url.startsWith("/tenants/globex/"))).toBe(false);

      const [alert] = await listAlerts(am, labels);
      expect(alert?.labels).toEqual({
        alertname: ALERTNAME,
        tenant: "acme",
        kind: "denial_burst",
        service: "orders",
        instance: hostname(),
        severity: "warning",
      });
      expect(alert?.status.state).toBe("active");
      expect(Date.parse(alert?.endsAt ?? "")).toBeGreaterThan(Date.now());

      let metrics = await metricsOf(orders);
      expect(sample(metrics, "palisade_anomaly_alerts_total", labels)).toBe(1);
      expect(sample(metrics, "palisade_anomaly_active", labels)).toBe(1);
      const firing = alertLines(orders, "acme", "denial_burst");
      expect(firing).toHaveLength(1);
      expect(firing[0]).toMatchObject({ level: "warn", status: "firing", threshold: THRESHOLD });
      expect(firing[0]?.["observed"]).toBeGreaterThanOrEqual(THRESHOLD);
      expect(firing[0]?.["startsAt"]).toBe(alert?.startsAt);
      // The attempt that tipped it over (the THRESHOLD-th, unless the burst straddled a
      // window boundary) is named in the alert and the log, to find in the audit log.
      const tipping = String(firing[0]?.["requestId"]);
      const tippingIndex = attempts.findIndex((a) => a.headers["x-request-id"] === tipping);
      expect(tippingIndex).toBeGreaterThanOrEqual(THRESHOLD - 1);
      expect(alert?.annotations["description"]).toContain(`Tipping request: ${tipping}.`);

      // Attempts stopped: the detector resolves after the quiet period and Alertmanager drops it.
      await expect.poll(() => listAlerts(am, labels), { ...POLL, interval: 50 }).toEqual([]);
      const resolvedAfter = performance.now() - lastSentAt;
      console.info(
        `first attempt -> alert visible in Alertmanager: ${visibleAfter.toFixed(1)} ms ` +
          `(tipping attempt #${tippingIndex + 1} answered at ` +
          `${answeredAt[tippingIndex]?.toFixed(1)} ms; ${attempts.length} attempts in all); ` +
          `last attempt -> resolved in Alertmanager: ` +
          `${resolvedAfter.toFixed(0)} ms (quiet period ${QUIET_MS} ms, 1 s tick)`,
      );
      // Never before the quiet period (a little slack: two clocks).
      expect(resolvedAfter).toBeGreaterThanOrEqual(QUIET_MS - 50);

      metrics = await metricsOf(orders);
      expect(sample(metrics, "palisade_anomaly_alerts_total", labels)).toBe(1);
      expect(sample(metrics, "palisade_anomaly_active", labels)).toBe(0);
      const lines = alertLines(orders, "acme", "denial_burst");
      expect(lines.map((l) => l["status"])).toEqual(["firing", "resolved"]);
      expect(lines[1]).toMatchObject({ level: "info", startsAt: alert?.startsAt });
      expect(Date.parse(String(lines[1]?.["endsAt"]))).toBeGreaterThan(
        Date.parse(alert?.startsAt ?? ""),
      );
    });

    it("spoofed-tenant-header burst raises a critical context_spoofing", async () => {
      const answers = await Promise.all(
        Array.from({ length: BURST }, () =>
          send(client(toOrders, "globex"), `${orders.inbound}/tenants/globex/orders`, {
            headers: { "x-palisade-tenant": "acme" },
          }),
        ),
      );
      for (const a of answers) expect(a.json()).toMatchObject({ error: "tenant_context_mismatch" });
      const labels = { tenant: "globex", kind: "context_spoofing", service: "orders" };
      await expect.poll(() => listAlerts(am, labels), POLL).toHaveLength(1);
      expect((await listAlerts(am, labels))[0]?.labels["severity"]).toBe("critical");
    });

    it("forged reserved headers, stripped and answered, still raise context_spoofing", async () => {
      const answers = await Promise.all(
        Array.from({ length: BURST }, () =>
          send(client(toOrders, "umbrella"), `${orders.inbound}/tenants/umbrella/orders`, {
            headers: { "x-palisade-caller": "spiffe://mesh.local/tenant/acme/sa/admin" },
          }),
        ),
      );
      for (const a of answers) expect(a.status).toBe(200);
      const labels = { tenant: "umbrella", kind: "context_spoofing", service: "orders" };
      await expect.poll(() => listAlerts(am, labels), POLL).toHaveLength(1);
    });

    it("forged x-palisade-context on outbound raises context_spoofing", async () => {
      // Well-formed, but signed by a key this sidecar never had.
      const forged = new ContextTokens().issue({
        tenant: "acme",
        caller: "spiffe://mesh.local/tenant/acme/sa/web",
        requestId: "forged",
        expires: Date.now() + 60_000,
      });
      const answers = await Promise.all(
        Array.from({ length: BURST }, () =>
          send(undefined, `${orders.outbound}/tenants/acme/invoices`, {
            headers: { host: "billing", "x-palisade-context": forged },
          }),
        ),
      );
      for (const a of answers) expect(a.json()).toMatchObject({ error: "tenant_context_invalid" });
      // No tenant was proved, so the caller is "unknown".
      const labels = { tenant: "unknown", kind: "context_spoofing", service: "orders" };
      await expect.poll(() => listAlerts(am, labels), POLL).toHaveLength(1);
    });

    it("probing distinct targets raises target_probing, below the burst threshold", async () => {
      const targets = ["acme", "globex", "umbrella"];
      for (const target of targets) {
        const answer = await send(
          client(toOrders, "initech"),
          `${orders.inbound}/tenants/${target}/x`,
        );
        expect(answer.status).toBe(403);
      }
      const labels = { tenant: "initech", kind: "target_probing", service: "orders" };
      await expect.poll(() => listAlerts(am, labels), POLL).toHaveLength(1);
      const [alert] = await listAlerts(am, labels);
      expect(alert?.labels["severity"]).toBe("critical");
      expect(alert?.annotations["description"]).toContain(`targets: ${targets.join(", ")}`);
      // Three denials are not a burst: probing is judged on breadth, not volume.
      expect(await listAlerts(am, { tenant: "initech", kind: "denial_burst" })).toEqual([]);
      expect(firingKinds(orders).filter((k) => k.startsWith("initech "))).toEqual([
        "initech target_probing",
      ]);
    });
  });

  describe("legitimate traffic", () => {
    it("500 same-tenant and 200 granted cross-tenant requests raise nothing", async () => {
      const web = await start("web", {
        anomaly: anomaly(am.url),
        grants: [
          {
            id: "globex-reads-acme-reports",
            from: "globex",
            to: "acme",
            methods: ["GET"],
            paths: ["/tenants/acme/reports/**"],
            expires: "2099-01-01T00:00:00Z",
          },
        ],
      });
      const acme = client(toWeb, "acme");
      const globex = client(toWeb, "globex");
      const jobs = [
        ...Array.from({ length: 500 }, (_, i) => ({
          expect: 200,
          run: () => send(acme, `${web.inbound}/tenants/acme/orders/${i}`),
        })),
        ...Array.from({ length: 200 }, (_, i) => ({
          expect: 200,
          run: () => send(globex, `${web.inbound}/tenants/acme/reports/q${i % 4}`),
        })),
        // A stale client's occasional refusal, below the threshold, is not an anomaly either.
        ...Array.from({ length: THRESHOLD - 1 }, () => ({
          expect: 403,
          run: () => send(globex, `${web.inbound}/tenants/acme/orders/1`),
        })),
      ];
      const results = await drive(shuffle(jobs), 16);
      expect(results.filter((r) => r.status !== r.expect)).toEqual([]);

      const metrics = await metricsOf(web);
      const granted = { tenant: "globex", target: "acme", service: "web" };
      expect(sample(metrics, "palisade_cross_tenant_granted_total", granted)).toBe(200);
      expect(nonZero(metrics, "palisade_anomaly_active")).toEqual([]);
      expect(nonZero(metrics, "palisade_anomaly_alerts_total")).toEqual([]);
      expect(web.sidecar.anomaly.detector.stats().firing).toBe(0);
      expect(web.logs.filter((l) => l["event"] === "anomaly_alert")).toEqual([]);
      // Nothing was ever queued for Alertmanager, and it holds nothing from this service.
      expect(web.sidecar.anomaly.deliveryStats().alertmanager).toEqual({
        waiting: 0,
        inFlight: false,
        delivered: 0,
        dropped: 0,
      });
      expect(await listAlerts(am, { service: "web" })).toEqual([]);
    });
  });

  describe("an unreachable Alertmanager", () => {
    it("never fails proxied requests, and the delivery queue stays bounded", async () => {
      const queueSize = 2;
      const closed = await freePort();
      // Quiet period long enough that nothing resolves mid-test: 5 fires are all it queues.
      const config = (alertmanager?: string) => ({
        anomaly: { ...anomaly(alertmanager, "1m"), queueSize },
      });
      const [healthy, deaf] = await Promise.all([
        start("orders", config()),
        start("orders", config(`http://127.0.0.1:${closed}`)),
      ]);

      // Connections opened first: p99 should compare alert handling, not TLS handshakes.
      await Promise.all([drive(mixedBurst(healthy, true), 16), drive(mixedBurst(deaf, true), 16)]);
      const baseline = await drive(mixedBurst(healthy), 16);
      let maxWaiting = 0;
      const burst = await drive(mixedBurst(deaf), 16, () => {
        const stats = deaf.sidecar.anomaly.deliveryStats().alertmanager;
        maxWaiting = Math.max(maxWaiting, stats?.waiting ?? 0);
      });
      console.info(
        `mixed burst of ${burst.length} requests, p99: ${p99(baseline).toFixed(1)} ms without ` +
          `Alertmanager, ${p99(burst).toFixed(1)} ms with an unreachable one`,
      );

      // Every request answered as it would have been anyway.
      for (const results of [baseline, burst]) {
        for (const r of results) expect(r.status).toBe(r.expect);
      }
      const expected = [
        "acme denial_burst",
        "acme target_probing",
        "globex context_spoofing",
        "globex denial_burst",
        "initech context_spoofing",
      ];
      expect(firingKinds(healthy)).toEqual(expected);
      expect(firingKinds(deaf)).toEqual(expected);

      // Each fire is queued, in flight (retrying), or dropped; never more than the cap waits.
      const stats = deaf.sidecar.anomaly.deliveryStats().alertmanager!;
      expect(maxWaiting).toBeLessThanOrEqual(queueSize);
      expect(stats.waiting).toBeLessThanOrEqual(queueSize);
      expect(stats.delivered).toBe(0);
      expect(stats.waiting + stats.dropped + (stats.inFlight ? 1 : 0)).toBe(expected.length);
      expect(stats.dropped).toBeGreaterThanOrEqual(expected.length - queueSize - 1);
      const dropLines = deaf.logs.filter((l) => l["event"] === "anomaly_delivery_dropped");
      expect(dropLines).toHaveLength(stats.dropped);
      expect(dropLines.every((l) => l["sink"] === "alertmanager")).toBe(true);
    });
  });
});

/**
 * Interleaved: cross-tenant probing, spoofed tenant assertions, forged headers, honest reads.
 * With `honest`, the same callers in the same order each read their own tenant (a warm-up).
 */
function mixedBurst(sidecar: RunningSidecar, honest = false): Job[] {
  const at = (
    tenant: Tenant,
    path: string,
    expect: number,
    headers: Record<string, string> = {},
  ): Job => {
    const agent = client(toOrders, tenant);
    if (honest)
      return { expect: 200, run: () => send(agent, `${sidecar.inbound}/tenants/${tenant}/x`) };
    return { expect, run: () => send(agent, `${sidecar.inbound}${path}`, { headers }) };
  };
  const victims = ["globex", "initech", "umbrella"] as const;
  const jobs: Job[] = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(at("acme", `/tenants/${victims[i % 3]}/orders`, 403));
    jobs.push(at("globex", "/tenants/globex/orders", 403, { "x-palisade-tenant": "acme" }));
    jobs.push(
      at("initech", "/tenants/initech/orders", 200, {
        "x-palisade-caller": "spiffe://mesh.local/tenant/acme/sa/web",
      }),
    );
    for (let j = 0; j < 7; j++) jobs.push(at("umbrella", `/tenants/umbrella/orders/${j}`, 200));
  }
  return jobs;
}

interface Job {
  expect: number;
  run(): Promise<Answer>;
}

interface Result {
  expect: number;
  status: number;
  ms: number;
}

/** Runs jobs `concurrency` at a time; results in job order. */
async function drive(jobs: Job[], concurrency: number, after?: () => void): Promise<Result[]> {
  const results: Result[] = new Array<Result>(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i] as Job;
      const started = performance.now();
      const answer = await job.run();
      results[i] = { expect: job.expect, status: answer.status, ms: performance.now() - started };
      after?.();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Deterministic interleaving, so a failure reproduces. */
function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function p99(results: Result[]): number {
  const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.99) - 1] ?? 0;
}

/** "tenant kind" of every alert firing in the detector, sorted. */
function firingKinds(sidecar: RunningSidecar): string[] {
  return sidecar.sidecar.anomaly.detector
    .activeAlerts()
    .map((a) => `${a.tenant} ${a.kind}`)
    .sort();
}

function alertLines(sidecar: RunningSidecar, tenant: string, kind: string): LogLine[] {
  return sidecar.logs.filter(
    (l) =>
      l.log === "event" &&
      l["event"] === "anomaly_alert" &&
      l["tenant"] === tenant &&
      l["kind"] === kind,
  );
}

async function metricsOf(sidecar: RunningSidecar): Promise<string> {
  return (await send(undefined, `${sidecar.admin}/metrics`)).text;
}

/** Samples of `name` as [labels, value], from Prometheus text format. */
function samples(text: string, name: string): [Record<string, string>, number][] {
  const out: [Record<string, string>, number][] = [];
  for (const line of text.split("\n")) {
    const match = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    ) as Record<string, string>;
    out.push([labels, Number(match[3])]);
  }
  return out;
}

/** The value of the one sample of `name` carrying all of `labels`, if any. */
/**
 * The one sample of `name` whose labels include `labels`. An alert's `service` label is the
 * series' `workload` (metrics do not use `service`, Prometheus Operator's target label).
 */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const { service, ...rest } = labels;
  const wanted = service === undefined ? rest : { ...rest, workload: service };
  const found = samples(text, name).filter(([l]) =>
    Object.entries(wanted).every(([k, v]) => l[k] === v),
  );
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.[1];
}

function nonZero(text: string, name: string): Record<string, string>[] {
  return samples(text, name)
    .filter(([, value]) => value !== 0)
    .map(([labels]) => labels);
}
