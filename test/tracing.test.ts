/**
 * Traces end to end through a real OTLP/HTTP receiver: a client's `traceparent` enters
 * web's inbound listener, the web app calls orders through web's outbound listener, and
 * every hop is one span of the client's trace, parented hop by hop, with the tenant
 * attributes DESIGN.md names. Without `telemetry.otlp` there is no tracer at all.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { echo, startApp, type TestApp } from "./support/app.js";
import {
  baseConfig,
  send,
  startSidecar,
  tenantClient,
  type RunningSidecar,
} from "./support/mesh.js";
import { eventually } from "./support/eventually.js";
import { withMesh } from "./support/with-mesh.js";
import {
  OTLP_SPAN_KIND,
  OTLP_STATUS,
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from "./support/otlp-receiver.js";

let receiver: OtlpReceiver;
let ordersApp: TestApp;
let webApp: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let plain: RunningSidecar | undefined;
let acme: Agent;
const agents: Agent[] = [];

/** W3C trace-context ids, fresh per test so traces never mix. */
function newTraceparent(sampled = true) {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${sampled ? "01" : "00"}` };
}

function parseTraceparent(value: unknown) {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value));
  if (!match) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1] as string, spanId: match[2] as string, flags: match[3] as string };
}

function spansOf(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

function only(spans: ReceivedSpan[], service: string, kind: number): ReceivedSpan {
  const found = spans.filter((s) => s.resource["service.name"] === service && s.kind === kind);
  expect(found, `${service} kind ${kind}: ${JSON.stringify(spans, null, 1)}`).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

const mesh = withMesh(["acme", "globex"], ["orders", "web", "cli"]);

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // Stopping flushes the span processors, so the receiver goes last.
  mesh.defer(() => receiver.close());
  const otlp = { endpoint: receiver.endpoint, sampleRatio: 1 };

  ordersApp = await mesh.app();
  const ordersConfig = baseConfig(mesh.pki, "orders", ["acme", "globex"], ordersApp.url);
  ordersConfig["telemetry"] = { logs: { level: "info" }, otlp };
  orders = await mesh.sidecar(ordersConfig);

  // The web app does what an instrumented app does: it calls orders through its sidecar's
  // outbound listener, passing on the trace context and the tenant context it was given.
  webApp = await mesh.app((req, res, body) => {
    if (req.url !== "/tenants/acme/checkout") return echo(req, res, body);
    const headers: Record<string, string> = {
      host: "orders",
      "x-palisade-context": String(req.headers["x-palisade-context"]),
    };
    if (req.headers["traceparent"] !== undefined)
      headers["traceparent"] = String(req.headers["traceparent"]);
    send(undefined, `${web.outbound}/tenants/acme/orders`, { headers }).then(
      (answer) => {
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(answer.text);
      },
      (error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      },
    );
  });
  const webConfig = baseConfig(mesh.pki, "web", ["acme", "globex"], webApp.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: { orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } } },
  };
  webConfig["telemetry"] = { logs: { level: "info" }, otlp };
  // Low, so that a few denials tip an alert onto a request's span.
  webConfig["anomaly"] = { threshold: 2, window: "60s" };
  // A dry run of the grant the denial test would need: traced, never allowing.
  webConfig["grants"] = [
    {
      id: "acme-globex-trial",
      from: "acme",
      to: "globex",
      methods: ["GET"],
      paths: ["/tenants/globex/orders"],
      mode: "audit",
      expires: new Date(Date.now() + 86_400_000).toISOString(),
    },
  ];
  web = await mesh.sidecar(webConfig);
  acme = await mesh.client("acme", "cli", "web");
  mesh.defer(() => Promise.all(agents.map((a) => a.close())));
});

describe("traces across a two-sidecar chain", () => {
  it("one trace spans client → web inbound → web outbound → orders inbound, parent by parent", async () => {
    const client = newTraceparent();
    const answer = await send(acme, `${web.inbound}/tenants/acme/checkout`, {
      headers: { traceparent: client.header },
    });
    expect(answer.status, answer.text).toBe(200);

    // What the apps saw: the client's trace, continued by each sidecar's own span.
    const webSaw = parseTraceparent(webApp.seen.at(-1)?.headers["traceparent"]);
    const ordersSeen = ordersApp.seen.at(-1);
    expect(ordersSeen?.url).toBe("/tenants/acme/orders");
    const ordersSaw = parseTraceparent(ordersSeen?.headers["traceparent"]);
    expect(webSaw.traceId).toBe(client.traceId);
    expect(ordersSaw.traceId).toBe(client.traceId);
    expect(webSaw.flags).toBe("01");
    expect(ordersSaw.flags).toBe("01");

    await receiver.waitFor(
      (all) => all.filter((s) => s.traceId === client.traceId).length >= 3,
      "three spans of the chain's trace",
    );
    const spans = spansOf(client.traceId);
    expect(spans).toHaveLength(3);
    const webIn = only(spans, "palisade-web", OTLP_SPAN_KIND.SERVER);
    const webOut = only(spans, "palisade-web", OTLP_SPAN_KIND.CLIENT);
    const ordersIn = only(spans, "palisade-orders", OTLP_SPAN_KIND.SERVER);

    // The fourth span of the trace is the client's own: web inbound's parent.
    expect(webIn.parentSpanId).toBe(client.spanId);
    expect(webSaw.spanId).toBe(webIn.spanId);
    expect(webOut.parentSpanId).toBe(webIn.spanId);
    expect(ordersIn.parentSpanId).toBe(webOut.spanId);
    expect(ordersSaw.spanId).toBe(ordersIn.spanId);

    for (const span of [webIn, webOut, ordersIn]) {
      expect(span.attributes).toMatchObject({
        "tenant.id": "acme",
        "tenant.target": "acme",
        "palisade.decision": "allow",
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "http.route": "/tenants/{tenant}/**",
        "network.protocol.version": "1.1",
        "client.address": "127.0.0.1",
      });
      // The route template, never the path with its ids.
      expect(span.name).toBe("GET /tenants/{tenant}/**");
      expect(span.status.code).not.toBe(OTLP_STATUS.ERROR);
    }
    expect(webIn.attributes["server.address"]).toBe("127.0.0.1");
    expect(webIn.attributes["url.path"]).toBe("/tenants/acme/checkout");
    expect(webOut.attributes["server.address"]).toBe("orders");
    expect(ordersIn.attributes["palisade.peer"]).toBe("web");
    expect(webOut.attributes["url.path"]).toBe("/tenants/acme/orders");
    expect(receiver.errors).toEqual([]);
  });

  it("starts a trace when the client sends none, and the apps still see one trace", async () => {
    const answer = await send(acme, `${web.inbound}/tenants/acme/checkout`);
    expect(answer.status, answer.text).toBe(200);
    const webSaw = parseTraceparent(webApp.seen.at(-1)?.headers["traceparent"]);
    const ordersSaw = parseTraceparent(ordersApp.seen.at(-1)?.headers["traceparent"]);
    expect(ordersSaw.traceId).toBe(webSaw.traceId);
    await receiver.waitFor(
      (all) => all.filter((s) => s.traceId === webSaw.traceId).length >= 3,
      "three spans of a trace the sidecar started",
    );
    const webIn = only(spansOf(webSaw.traceId), "palisade-web", OTLP_SPAN_KIND.SERVER);
    expect(webIn.parentSpanId).toBe("");
  });

  it("records a denial on the span, with the audit-mode grant that would have allowed it, and the app never sees the request", async () => {
    const client = newTraceparent();
    const before = webApp.seen.length;
    const answer = await send(acme, `${web.inbound}/tenants/globex/orders?secret=1`, {
      headers: { traceparent: client.header },
    });
    expect(answer.status).toBe(403);
    expect(webApp.seen.length).toBe(before);
    await receiver.waitFor(
      (all) => all.some((s) => s.traceId === client.traceId),
      "the denied request's span",
    );
    const span = only(spansOf(client.traceId), "palisade-web", OTLP_SPAN_KIND.SERVER);
    expect(span.parentSpanId).toBe(client.spanId);
    expect(span.attributes).toMatchObject({
      "tenant.id": "acme",
      "tenant.target": "globex",
      "palisade.decision": "deny",
      "http.request.method": "GET",
      "http.response.status_code": 403,
      "palisade.refusal": "cross_tenant_denied",
      "palisade.policy_audit.grant": "acme-globex-trial",
    });
    // The query string is not part of the recorded path.
    expect(span.attributes["url.path"]).toBe("/tenants/globex/orders");
    // A server span's 4xx is the caller's doing, not an error of the server (HTTP semantic
    // conventions); the refusal stays findable by `palisade.refusal`.
    expect(span.status.code).not.toBe(OTLP_STATUS.ERROR);
    expect(span.attributes["error.type"]).toBeUndefined();
  });

  it("puts the anomaly alert a denial tipped on that request's span, as an event", async () => {
    const clients = [newTraceparent(), newTraceparent(), newTraceparent()];
    for (const client of clients) {
      const answer = await send(acme, `${web.inbound}/tenants/globex/orders`, {
        headers: { traceparent: client.header },
      });
      expect(answer.status).toBe(403);
    }
    const ids = new Set(clients.map((c) => c.traceId));
    await receiver.waitFor(
      (all) => all.filter((s) => ids.has(s.traceId)).length >= clients.length,
      "the denied requests' spans",
    );
    const events = receiver.spans.filter((s) => ids.has(s.traceId)).flatMap((s) => s.events);
    expect(events).toContain("palisade.anomaly.fired");
    // Only the tipping request carries it, and no stand-in span was made for it.
    expect(events.filter((e) => e === "palisade.anomaly.fired")).toHaveLength(1);
    expect(receiver.spans.filter((s) => s.name === "palisade.anomaly.fired")).toEqual([]);
  });

  it("honours an unsampled parent: nothing exported, the context still propagates", async () => {
    const unsampled = newTraceparent(false);
    const answer = await send(acme, `${web.inbound}/tenants/acme/checkout`, {
      headers: { traceparent: unsampled.header },
    });
    expect(answer.status, answer.text).toBe(200);
    const ordersSaw = parseTraceparent(ordersApp.seen.at(-1)?.headers["traceparent"]);
    expect(ordersSaw.traceId).toBe(unsampled.traceId);
    expect(ordersSaw.flags).toBe("00");
    // A sampled request sent afterwards is exported by the same batch processors; once its
    // spans are in, the unsampled request's would have been too.
    const marker = newTraceparent();
    await send(acme, `${web.inbound}/tenants/acme/checkout`, {
      headers: { traceparent: marker.header },
    });
    await receiver.waitFor(
      (all) => all.filter((s) => s.traceId === marker.traceId).length >= 3,
      "the marker trace",
    );
    expect(spansOf(unsampled.traceId)).toEqual([]);
  });
});

describe("B3 propagation", () => {
  const traceId = () => randomBytes(16).toString("hex");
  const spanId = () => randomBytes(8).toString("hex");

  it.each([
    ["single header", (t: string, s: string) => ({ b3: `${t}-${s}-1` })],
    [
      "multi header",
      (t: string, s: string) => ({ "x-b3-traceid": t, "x-b3-spanid": s, "x-b3-sampled": "1" }),
    ],
  ])("continues a B3 parent (%s) and passes on W3C and B3", async (_, headers) => {
    const [t, s] = [traceId(), spanId()];
    const answer = await send(acme, `${web.inbound}/tenants/acme/checkout`, {
      headers: headers(t, s),
    });
    expect(answer.status, answer.text).toBe(200);
    const seen = webApp.seen.at(-1)?.headers ?? {};
    const webSaw = parseTraceparent(seen["traceparent"]);
    expect(webSaw.traceId).toBe(t);
    expect(seen["x-b3-traceid"]).toBe(t);
    expect(seen["x-b3-spanid"]).toBe(webSaw.spanId);
    // The caller's single header is replaced, not forwarded stale beside the new ones.
    expect(seen["b3"]).toBeUndefined();
    await receiver.waitFor(
      (all) => all.filter((x) => x.traceId === t).length >= 3,
      "the B3-parented trace",
    );
    const webIn = only(spansOf(t), "palisade-web", OTLP_SPAN_KIND.SERVER);
    expect(webIn.parentSpanId).toBe(s);
  });
});

describe("the sampling ratio", () => {
  it("reloads: a trace the sidecar starts is unsampled at 0, sampled after a reload to 1", async () => {
    const app = await startApp();
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    const withRatio = (sampleRatio: number) => ({
      ...config,
      telemetry: { logs: { level: "info" }, otlp: { endpoint: receiver.endpoint, sampleRatio } },
    });
    const sidecar = await startSidecar(withRatio(0));
    try {
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      agents.push(agent);
      const flags = async () => {
        expect((await send(agent, `${sidecar.inbound}/tenants/acme/orders`)).status).toBe(200);
        return parseTraceparent(app.seen.at(-1)?.headers["traceparent"]).flags;
      };
      expect(await flags()).toBe("00");
      await writeFile(sidecar.configFile, stringify(withRatio(1)));
      expect(await sidecar.sidecar.reload("test")).toBe(true);
      expect(await flags()).toBe("01");
    } finally {
      await sidecar.stop();
      await app.close();
    }
  });
});

describe("tracing configured, unsampled", () => {
  it("exports nothing at ratio 0 yet passes every trace on, and still exports a sampled parent's", async () => {
    const app = await startApp();
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    config["telemetry"] = {
      logs: { level: "info" },
      otlp: { endpoint: receiver.endpoint, sampleRatio: 0 },
    };
    const sidecar = await startSidecar(config);
    try {
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      agents.push(agent);
      const get = async (headers: Record<string, string> = {}) => {
        const answer = await send(agent, `${sidecar.inbound}/tenants/acme/orders`, { headers });
        expect(answer.status, answer.text).toBe(200);
        return app.seen.at(-1)?.headers ?? {};
      };
      const unsampled: string[] = [];
      for (let i = 0; i < 10; i++) {
        const parent = newTraceparent(false);
        unsampled.push(parent.traceId);
        const seen = await get({ traceparent: parent.header, tracestate: "vendor=x" });
        const passed = parseTraceparent(seen["traceparent"]);
        expect(passed).toMatchObject({ traceId: parent.traceId, flags: "00" });
        expect(passed.spanId).not.toBe(parent.spanId);
        expect(seen["tracestate"]).toBe("vendor=x");
        expect(seen["x-b3-traceid"]).toBe(parent.traceId);
        expect(seen["x-b3-sampled"]).toBe("0");
      }
      for (let i = 0; i < 10; i++) {
        // No trace from the caller: a new one, unsampled, and the access line names it.
        const started = parseTraceparent((await get())["traceparent"]);
        expect(started.flags).toBe("00");
        unsampled.push(started.traceId);
        await eventually(
          () => sidecar.logs.some((l) => l["log"] === "access" && l["traceId"] === started.traceId),
          "the access line naming the trace",
        );
      }
      const sampled = newTraceparent(true);
      const seen = parseTraceparent((await get({ traceparent: sampled.header }))["traceparent"]);
      expect(seen).toMatchObject({ traceId: sampled.traceId, flags: "01" });
      // One batch processor: once the sampled span is in, the others would have been too.
      await receiver.waitFor(
        (all) => all.some((s) => s.traceId === sampled.traceId),
        "the sampled parent's span",
      );
      const exported = spansOf(sampled.traceId);
      expect(exported).toHaveLength(1);
      expect(exported[0]?.parentSpanId).toBe(sampled.spanId);
      expect(exported[0]?.spanId).toBe(seen.spanId);
      expect(unsampled.every((id) => !receiver.spans.some((s) => s.traceId === id))).toBe(true);
    } finally {
      await sidecar.stop();
      await app.close();
    }
  });
});

describe("a dead collector", () => {
  it("neither fails requests nor holds up a stop for long", async () => {
    const gone = await startOtlpReceiver();
    await gone.close();
    const app = await startApp();
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    config["telemetry"] = { logs: { level: "info" }, otlp: { endpoint: gone.endpoint } };
    const sidecar = await startSidecar(config);
    try {
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      agents.push(agent);
      for (let i = 0; i < 3; i++) {
        const answer = await send(agent, `${sidecar.inbound}/tenants/acme/orders`);
        expect(answer.status).toBe(200);
      }
    } finally {
      const started = Date.now();
      await sidecar.stop();
      const stopMs = Date.now() - started;
      await app.close();
      // The last flush retries until the exporter's 5 s timeout, then gives up quietly.
      expect(stopMs).toBeLessThan(8_000);
    }
  });
});

describe("no cost when not configured", () => {
  it("creates no tracer without telemetry.otlp, and passes the caller's traceparent through", async () => {
    const app = await startApp();
    try {
      plain = await mesh.sidecar(baseConfig(mesh.pki, "orders", ["acme"], app.url));
      expect(plain.sidecar.tracing).toBeUndefined();
      expect(web.sidecar.tracing).toBeDefined();
      const client = newTraceparent();
      const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
      agents.push(agent);
      const answer = await send(agent, `${plain.inbound}/tenants/acme/orders`, {
        headers: { traceparent: client.header },
      });
      expect(answer.status).toBe(200);
      expect(app.seen.at(-1)?.headers["traceparent"]).toBe(client.header);
      // The audit and access logs still name the caller's trace.
      const access = plain.logs.filter((l) => l.log === "access").at(-1);
      expect(access?.["traceId"]).toBe(client.traceId);
    } finally {
      await plain?.stop();
      plain = undefined;
      await app.close();
    }
  });
});
