/**
 * Telemetry end to end: two sidecars (web → orders) carry every kind of traffic DESIGN.md
 * counts — same-tenant calls in and out, denials, a granted cross-tenant call, cache hits,
 * misses and evictions, an anomaly alert, a refused TLS handshake, a good and a bad
 * reload — while a real Prometheus scrapes both admin listeners. Then every expression of
 * both shipped Grafana dashboards must return data, and the logs must say what DESIGN.md
 * promises (no query strings, no bodies; audit and event lines with their fields).
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { createCa, issueLeaf } from "../src/tls/dev-pki.js";
import { echo, type TestApp } from "./support/app.js";
import { dashboardExpressions, substituteGrafanaVariables } from "./support/dashboards.js";
import {
  baseConfig,
  send,
  TRUST_DOMAIN,
  type LogLine,
  type RunningSidecar,
} from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { sampleValue } from "./support/exposition.js";
import { startOtlpReceiver, type OtlpReceiver } from "./support/otlp-receiver.js";
import { findBinary, startPrometheus, type RunningPrometheus } from "./support/prometheus.js";
import { CI, DESIGN_METRICS } from "./support/design.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const DASHBOARDS = ["palisade-fleet.json", "palisade-isolation.json"].map((f) =>
  join(root, "dashboards", f),
);
const prometheusBinary = findBinary(["prometheus"]);
const withPrometheus = prometheusBinary !== undefined || CI;
if (!withPrometheus) {
  console.warn("telemetry-prometheus.test: prometheus not on PATH, skipping the dashboard queries");
}

/** Must never appear in a log line: a query string value and a response body. */
const QUERY_MARKER = "query-secret-4d1f";
const BODY_MARKER = "body-secret-9a7c";
const SCRAPE_WAIT_MS = 30_000;

let ordersApp: TestApp;
let webApp: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let ordersConfig: Record<string, unknown>;
let prometheus: RunningPrometheus | undefined;
let receiver: OtlpReceiver;
const agents: Record<string, Agent> = {};
/** Trace ids sent with denied and granted requests, to find in the audit log. */
const auditTraceIds: string[] = [];

function traceparent(): { traceId: string; header: string } {
  const traceId = randomBytes(16).toString("hex");
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString("hex")}-01` };
}

/** orders' app: granted reports (with a field the grant does not pass), cacheable pages. */
function ordersHandler(...[req, res, body]: Parameters<typeof echo>): void {
  const url = req.url ?? "";
  if (url.startsWith("/tenants/acme/reports/")) {
    const text = JSON.stringify({ id: url.split("/").at(-1), total: 42, note: BODY_MARKER });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(text);
  } else if (url.startsWith("/tenants/acme/cached/")) {
    // ~700 bytes: two fit in acme's 2 KiB cache, the third evicts.
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${BODY_MARKER} ${"x".repeat(680)}`);
  } else {
    echo(req, res, body);
  }
}

const mesh = withMesh(["acme", "globex"], ["orders", "web", "cli"]);

beforeAll(async () => {
  ordersApp = await mesh.app(ordersHandler);
  ordersConfig = baseConfig(mesh.pki, "orders", ["acme", "globex"], ordersApp.url);
  (ordersConfig["inbound"] as Record<string, unknown>)["cache"] = {
    enabled: true,
    defaultTtl: "60s",
  };
  const tenants = ordersConfig["tenants"] as Record<string, Record<string, unknown>>;
  (tenants["acme"] as Record<string, unknown>)["cache"] = { maxBytes: "2Ki" };
  ordersConfig["grants"] = [
    {
      id: "globex-reads-acme-reports",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      fields: ["id", "total"],
      expires: "2099-01-01T00:00:00Z",
    },
  ];
  ordersConfig["anomaly"] = { threshold: 3, window: "10s" };
  // `web` calls orders: named, so it is a `peer` label value (the service graph's edge).
  // Traced, so the latency buckets carry trace ids as exemplars.
  receiver = await startOtlpReceiver();
  mesh.defer(() => receiver.close());
  ordersConfig["telemetry"] = {
    logs: { level: "info" },
    peers: ["web"],
    otlp: { endpoint: receiver.endpoint, sampleRatio: 1 },
  };
  orders = await mesh.sidecar(ordersConfig);

  webApp = await mesh.app();
  const webConfig = baseConfig(mesh.pki, "web", ["acme", "globex"], webApp.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: { orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } } },
  };
  web = await mesh.sidecar(webConfig);

  agents["acmeToWeb"] = await mesh.client("acme", "cli", "web");
  agents["acmeToOrders"] = await mesh.client("acme", "web", "orders");
  agents["globexToOrders"] = await mesh.client("globex", "web", "orders");
  // An SVID for acme from a CA no tenant trusts: refused at the handshake.
  const rogueCa = await createCa({ commonName: "rogue" });
  const rogue = await issueLeaf(rogueCa, {
    uris: [`spiffe://${TRUST_DOMAIN}/tenant/acme/sa/web`],
  });
  agents["rogue"] = await mesh.client("acme", "web", "orders", {
    cert: rogue.certPem,
    key: rogue.keyPem,
  });

  if (withPrometheus) {
    if (prometheusBinary === undefined) {
      throw new Error(
        "prometheus not found on PATH, and CI is set: install it (Debian/Ubuntu: apt-get install prometheus)",
      );
    }
    prometheus = await startPrometheus({
      scrapeTargets: [orders, web].map((s) => new URL(s.admin).host),
      scrapeInterval: "1s",
    });
    mesh.defer(() => prometheus?.stop());
    await prometheus.waitForTargetsUp();
  }

  // Two rounds with a scrape between them, so every counter rises inside Prometheus's
  // rate windows instead of first appearing at its final value.
  const firstRound = Date.now();
  await traffic(1);
  await scrapesSince(Date.now(), 1);
  await traffic(2);
  await scrapesSince(Date.now(), 2);
  expect(Date.now() - firstRound, "all traffic inside the dashboards' 1m rate window").toBeLessThan(
    45_000,
  );
}, 120_000);

async function traffic(round: number): Promise<void> {
  const { acmeToWeb, acmeToOrders, globexToOrders, rogue } = agents;
  const trace = traceparent();
  auditTraceIds.push(trace.traceId);

  // Same tenant, inbound at web; the web app gets a context token for its outbound call.
  const home = await send(acmeToWeb, `${web.inbound}/tenants/acme/home?q=${QUERY_MARKER}`);
  expect(home.status, home.text).toBe(200);
  const context = String(webApp.seen.at(-1)?.headers["x-palisade-context"]);

  // Same tenant, out of web and into orders.
  const chained = await send(
    undefined,
    `${web.outbound}/tenants/acme/orders/${round}?q=${QUERY_MARKER}`,
    { headers: { host: "orders", "x-palisade-context": context } },
  );
  expect(chained.status, chained.text).toBe(200);

  // A request body, for the byte histograms.
  const posted = await send(acmeToOrders, `${orders.inbound}/tenants/acme/orders`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "x".repeat(1000),
  });
  expect(posted.status, posted.text).toBe(200);

  // Denials: inbound (above the anomaly threshold of 3) and outbound (confused deputy).
  for (let i = 0; i < 4; i++) {
    const denied = await send(
      acmeToOrders,
      `${orders.inbound}/tenants/globex/orders?q=${QUERY_MARKER}`,
      {
        headers: { traceparent: trace.header },
      },
    );
    expect(denied.status).toBe(403);
  }
  const deputy = await send(undefined, `${web.outbound}/tenants/globex/orders`, {
    headers: { host: "orders", "x-palisade-context": context, traceparent: trace.header },
  });
  expect(deputy.status).toBe(403);

  // A reserved header from the network: stripped, audited, request still served.
  const spoofed = await send(acmeToOrders, `${orders.inbound}/tenants/acme/profile/${round}`, {
    headers: {
      traceparent: trace.header,
      "x-palisade-caller": "spiffe://mesh.local/tenant/globex/sa/web",
    },
  });
  expect(spoofed.status).toBe(200);

  // A cross-tenant call under the grant, projected to the granted fields.
  const granted = await send(globexToOrders, `${orders.inbound}/tenants/acme/reports/q${round}`, {
    headers: { traceparent: trace.header },
  });
  expect(granted.status, granted.text).toBe(200);
  expect(granted.json()).toEqual({ id: `q${round}`, total: 42 });

  // Cache: each page missed then hit; five ~700-byte pages in a 2 KiB partition evict.
  for (let i = 0; i < 5; i++) {
    for (const expected of ["miss", "hit"]) {
      const page = await send(acmeToOrders, `${orders.inbound}/tenants/acme/cached/${round}-${i}`);
      expect(page.status).toBe(200);
      expect(page.headers["x-palisade-cache"]).toBe(expected);
    }
  }

  // A handshake with a certificate from a rogue CA.
  await expect(send(rogue, `${orders.inbound}/tenants/acme/orders`)).rejects.toThrow();

  // A reload that succeeds, one that is refused, then the good file back in place.
  const good = { ...ordersConfig, drainTimeout: `${20 + round}s` };
  await writeFile(orders.configFile, stringify(good));
  expect(await orders.sidecar.reload("test")).toBe(true);
  await writeFile(orders.configFile, stringify({ ...good, service: "Not A Service" }));
  expect(await orders.sidecar.reload("test")).toBe(false);
  await writeFile(orders.configFile, stringify(good));
}

/**
 * Resolves once Prometheus holds at least `count` scrapes of every target taken after
 * `since` (epoch ms). Polls; bounded.
 */
async function scrapesSince(since: number, count: number): Promise<void> {
  if (!prometheus) return;
  const deadline = Date.now() + SCRAPE_WAIT_MS;
  let seen: unknown[] = [];
  for (;;) {
    const range = Math.max(1, Date.now() - since);
    seen = await prometheus.query(`count_over_time(up{job="palisade"}[${range}ms])`);
    const counts = (seen as { value: [number, string] }[]).map((r) => Number(r.value[1]));
    if (counts.length === 2 && counts.every((c) => c >= count)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `fewer than ${count} scrapes of each target after ${SCRAPE_WAIT_MS} ms: ${JSON.stringify(seen)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function exposition(sidecar: RunningSidecar): Promise<string> {
  const answer = await send(undefined, `${sidecar.admin}/metrics`);
  expect(answer.status).toBe(200);
  return answer.text;
}

describe("the sidecars' /metrics", () => {
  it("exports every metric DESIGN.md names, with data", async () => {
    const text = (await exposition(orders)) + (await exposition(web));
    for (const name of DESIGN_METRICS) {
      const type = name.endsWith("_seconds") && name.includes("duration") ? "histogram" : "";
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} ${type}`, "m"));
      expect(text, name).toMatch(
        new RegExp(`^${name}(_bucket|_count)?\\{[^}]*\\} [0-9.e+-]+$`, "m"),
      );
    }
    // Each kind of traffic left its mark under its own labels.
    const ordersText = await exposition(orders);
    for (const series of [
      /palisade_cross_tenant_denied_total\{direction="inbound",tenant="acme",target="globex",reason="cross_tenant_denied",workload="orders"\} 8/,
      /palisade_cross_tenant_granted_total\{tenant="globex",target="acme",workload="orders"\} 2/,
      /palisade_cache_requests_total\{tenant="acme",result="hit",workload="orders"\} 1\d/,
      /palisade_cache_requests_total\{tenant="globex",result="bypass",workload="orders"\} 2/,
      /palisade_cache_evictions_total\{tenant="acme",workload="orders"\} [1-9]/,
      /palisade_tls_handshake_failures_total\{reason="unknown_ca",workload="orders"\} 2/,
      /palisade_anomaly_alerts_total\{tenant="acme",kind="denial_burst",workload="orders"\} 1/,
      /palisade_anomaly_active\{tenant="acme",kind="denial_burst",workload="orders"\} 1/,
      /palisade_config_reloads_total\{result="success",workload="orders"\} 2/,
      /palisade_config_reloads_total\{result="failure",workload="orders"\} 2/,
      /palisade_cert_expiry_timestamp_seconds\{tenant="acme",workload="orders"\} 1\d{9}/,
    ]) {
      expect(ordersText).toMatch(series);
    }
    const webText = await exposition(web);
    expect(webText).toMatch(
      /palisade_cross_tenant_denied_total\{direction="outbound",tenant="acme",target="globex",reason="cross_tenant_denied",workload="web"\} 2/,
    );
  });

  it("labels requests as a service graph: caller tenant, calling service, upstream", async () => {
    const ordersText = await exposition(orders);
    const webText = await exposition(web);
    const inbound = { direction: "inbound", upstream: "" };
    // web's app called orders: counted at web as outbound to the `orders` upstream, and at
    // orders as inbound from the `web` peer (named in orders' `telemetry.peers`).
    const outbound = { direction: "outbound", peer: "web", upstream: "orders", workload: "web" };
    expect(
      sampleValue(webText, "palisade_requests_total", { ...outbound, tenant: "acme", code: "200" }),
    ).toBe(2);
    const fromWeb = { ...inbound, tenant: "acme", peer: "web", workload: "orders" };
    expect(sampleValue(ordersText, "palisade_requests_total", { ...fromWeb, code: "403" })).toBe(8);
    // The latency histogram splits by status class: the denials apart from the served.
    expect(
      sampleValue(ordersText, "palisade_request_duration_seconds_count", {
        ...fromWeb,
        code_class: "4xx",
      }),
    ).toBe(8);
    // The `cli` service calling web is named nowhere in web's config.
    expect(
      sampleValue(webText, "palisade_requests_total", {
        ...inbound,
        tenant: "acme",
        peer: "unknown",
        code: "200",
        workload: "web",
      }),
    ).toBe(2);
    // Two 1000-byte POST bodies in; the granted, projected reports out.
    expect(sampleValue(ordersText, "palisade_request_bytes_sum", fromWeb)).toBe(2000);
    expect(
      sampleValue(ordersText, "palisade_response_bytes_sum", { ...fromWeb, tenant: "globex" }),
    ).toBe(2 * JSON.stringify({ id: "q1", total: 42 }).length);
  });

  it("has build info and the standard process and Node.js metric names", async () => {
    const text = await exposition(orders);
    expect(text).toMatch(
      new RegExp(
        `^palisade_build_info\\{version="[^"]+",node_version="${process.versions.node}",workload="orders"\\} 1$`,
        "m",
      ),
    );
    expect(text).toMatch(/^process_cpu_seconds_total\{workload="orders"\} /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{workload="orders"\} /m);
    expect(text).not.toMatch(/^palisade_(process|nodejs)_/m);
    // Prometheus Operator's `service` target label would rename a `service` label of ours.
    expect(text).not.toMatch(/[{,]service="/);
  });

  it("has latency buckets fine enough to resolve sub-millisecond proxy overhead", async () => {
    const text = await exposition(orders);
    const bounds = new Set(
      [...text.matchAll(/palisade_request_duration_seconds_bucket\{[^}]*le="([^"]+)"/g)].map(
        (m) => m[1],
      ),
    );
    const finite = [...bounds].map(Number).filter(Number.isFinite);
    // Proxy overhead on loopback is tens to hundreds of microseconds: it needs several
    // buckets below one millisecond, the smallest well under 100µs.
    expect(finite.filter((b) => b < 0.001).length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...finite)).toBeLessThanOrEqual(0.00005);
    expect(Math.max(...finite)).toBeGreaterThanOrEqual(10);
    expect(bounds.has("+Inf")).toBe(true);
  });
});

describe.skipIf(!withPrometheus)("exemplars", () => {
  it("reach Prometheus through the OpenMetrics scrape, naming traces the collector has", async () => {
    if (!prometheus) throw new Error("prometheus did not start");
    const series = await prometheus.queryExemplars(
      'palisade_request_duration_seconds_bucket{workload="orders"}',
    );
    const traceIds = series.flatMap((s) => s.exemplars.map((e) => e.labels["trace_id"]));
    expect(traceIds.length, JSON.stringify(series).slice(0, 500)).toBeGreaterThan(0);
    // Every exemplar names a sampled trace whose span reached the collector.
    await receiver.waitFor(
      (spans) => traceIds.every((id) => spans.some((s) => s.traceId === id)),
      "the exemplars' traces",
    );
    // A denial's exemplar is the caller's trace (the span continued it).
    const denied = series.filter((s) => s.seriesLabels["code_class"] === "4xx");
    const deniedIds = denied.flatMap((s) => s.exemplars.map((e) => e.labels["trace_id"]));
    expect(deniedIds.some((id) => auditTraceIds.includes(id as string))).toBe(true);
  });
});

describe.skipIf(!withPrometheus)("every dashboard expression returns data from Prometheus", () => {
  const cases = DASHBOARDS.flatMap((file) =>
    dashboardExpressions(file).map(({ panel, expr }) => ({
      name: `${basename(file)} / ${panel}: ${expr.replace(/\s+/g, " ")}`,
      expr,
    })),
  );

  for (const { name, expr } of cases) {
    it(name, async () => {
      if (!prometheus) throw new Error("prometheus did not start");
      const result = (await prometheus.query(substituteGrafanaVariables(expr))) as {
        value?: [number, string];
      }[];
      expect(result.length, `no series for ${expr}`).toBeGreaterThan(0);
      // Data, not just series: the traffic above moved every panel, so at least one value
      // is above zero (NaN would be 0/0, an empty rate; 0 a counter Prometheus saw born).
      const values = result.map((r) => Number(r.value?.[1]));
      expect(
        values.some((v) => v > 0),
        `no value above 0: ${JSON.stringify(result)}`,
      ).toBe(true);
    });
  }
});

describe("logs", () => {
  const all = (): LogLine[] => [...orders.logs, ...web.logs];

  it("never carry a query string or a body", () => {
    const access = all().filter((l) => l.log === "access");
    expect(access.length).toBeGreaterThan(20);
    for (const line of access) {
      expect(String(line["path"]), JSON.stringify(line)).not.toContain("?");
      expect(line).not.toHaveProperty("body");
    }
    for (const line of all()) {
      const text = JSON.stringify(line);
      expect(text).not.toContain(QUERY_MARKER);
      expect(text).not.toContain(BODY_MARKER);
    }
  });

  it("audit every denial with caller, target, method, path, reason, request and trace ids", () => {
    const denials = all().filter((l) => l.log === "audit" && l["reason"] === "cross_tenant_denied");
    expect(denials.length).toBe(10);
    for (const line of denials) {
      expect(line).toMatchObject({
        caller: "acme",
        target: "globex",
        decision: "deny",
        method: "GET",
        path: "/tenants/globex/orders",
        requestId: expect.any(String),
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
      expect(auditTraceIds).toContain(line["traceId"]);
    }
    expect(denials.filter((l) => l["direction"] === "outbound")).toHaveLength(2);
  });

  it("audit every grant use with the grant, caller, target, method, path, request and trace ids", () => {
    const grants = orders.logs.filter((l) => l.log === "audit" && l["grant"] !== undefined);
    expect(grants).toHaveLength(2);
    for (const line of grants) {
      expect(line).toMatchObject({
        grant: "globex-reads-acme-reports",
        decision: "grant",
        caller: "globex",
        callerId: "spiffe://mesh.local/tenant/globex/sa/web",
        target: "acme",
        method: "GET",
        path: expect.stringMatching(/^\/tenants\/acme\/reports\/q[12]$/),
        requestId: expect.any(String),
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
    }
  });

  it("audit reserved headers stripped from the network", () => {
    const stripped = orders.logs.filter(
      (l) => l.log === "audit" && l["reason"] === "spoofed_header",
    );
    expect(stripped).toHaveLength(2);
    for (const line of stripped) {
      expect(line).toMatchObject({
        header: "x-palisade-caller",
        caller: "acme",
        method: "GET",
        requestId: expect.any(String),
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
    }
  });

  it("record events: start, reload success and failure, alert, refused handshake, shutdown", async () => {
    const events = orders.logs.filter((l) => l.log === "event");
    const messages = events.map((l) => String(l.msg));
    expect(messages).toContain("palisade started");
    expect(messages.filter((m) => /^config reloaded/.test(m)).length).toBe(2);
    expect(events.filter((l) => l.level === "error" && /reload/.test(String(l.msg)))).toHaveLength(
      2,
    );
    expect(events.some((l) => l["event"] === "anomaly_alert" && l["status"] === "firing")).toBe(
      true,
    );
    expect(events.some((l) => l["reason"] === "unknown_ca")).toBe(true);

    await web.stop();
    const webEvents = web.logs.filter((l) => l.log === "event").map((l) => String(l.msg));
    expect(webEvents).toContain("draining");
    expect(webEvents.at(-1)).toBe("stopped");
  });
});
