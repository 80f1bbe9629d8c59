/**
 * Header attacks on real sidecars over real mTLS (docs/hardening-headers.md): header-count
 * floods that push the stamped tenant out of the app's view, authorities that name one
 * tenant to Palisade and another to the app's URL parser, routing headers the app may
 * honour, look-alike spellings of the target header, and reserved-name floods that
 * amplify the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { type SeenRequest, type TestApp } from "./support/app.js";
import { baseConfig, send, startSidecar, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { rawTcp, rawTls, statusOf } from "./support/raw.js";

let app: TestApp;
let upstreamApp: TestApp;
/** Path and header target rules; the `x-tenant-id` alias is reserved. */
let orders: RunningSidecar;
/** Host target rule `{tenant}.orders.example`. */
let hostOrders: RunningSidecar;
/** Outbound to a plain-HTTP upstream, unsigned tenant allowed. */
let web: RunningSidecar;
let acme: Agent;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app();
  upstreamApp = await mesh.app();
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  const inbound = config["inbound"] as Record<string, unknown>;
  inbound["stripHeaders"] = ["x-tenant-id"];
  inbound["target"] = { path: "/tenants/{tenant}/**", header: "x-target-tenant" };
  orders = await mesh.sidecar(config);
  const hostConfig = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  (hostConfig["inbound"] as Record<string, unknown>)["target"] = {
    host: "{tenant}.orders.example",
  };
  hostOrders = await mesh.sidecar(hostConfig);
  const webConfig = baseConfig(mesh.pki, "web", ["acme", "globex"], app.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    allowUnsignedTenant: true,
    upstreams: { direct: { url: upstreamApp.url } },
  };
  web = await mesh.sidecar(webConfig);
  acme = await mesh.client("acme", "web", "orders");
});

async function tlsOptions(tenant = "acme") {
  return {
    cert: await mesh.pki.cert(tenant, "web"),
    key: await mesh.pki.key(tenant, "web"),
    ca: await mesh.pki.ca(tenant),
    servername: `${tenant}.orders.mesh.local`,
  };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** One raw HTTP/1.1 request over mTLS as acme; `lines` are header lines after Host. */
async function rawInbound(
  sidecar: RunningSidecar,
  head: string,
  host: string,
  lines: string[],
  body = "",
): Promise<string> {
  const text = [head, `Host: ${host}`, ...lines, "Connection: close", "", body].join("\r\n");
  return rawTls(portOf(sidecar.inbound), await tlsOptions(), text);
}

function errorOf(response: string): string | undefined {
  const body = response.slice(response.indexOf("\r\n\r\n") + 4);
  try {
    return (JSON.parse(body) as { error?: string }).error;
  } catch {
    return undefined;
  }
}

function flood(count: number, name = "a"): string[] {
  return Array.from({ length: count }, () => `${name}: 1`);
}

/** The host a WHATWG URL parser (as apps use) reads from what the app was sent. */
function hostAppSees(seen: SeenRequest): string {
  return new URL(seen.url, `http://${String(seen.headers.host)}`).hostname;
}

const STAMPED = [
  "x-palisade-tenant",
  "x-palisade-caller",
  "x-palisade-context",
  "x-request-id",
  "traceparent",
];

describe("header count", () => {
  it("header-count-flood-hides-tenant: stamped headers pushed past the app's limit", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: { "x-flood": Array.from({ length: 1999 }, () => "1") },
    });
    // Before the fix the app (Node keeps 2000 fields) saw an untenanted request.
    expect(app.seen.slice(before).map((s) => s.headers["x-palisade-tenant"])).toEqual([]);
    expect(answer.status).toBe(431);
    expect(answer.json()).toMatchObject({ error: "headers_too_large" });
  });

  it.each([
    ["Content-Length: 5", "hello"],
    ["Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"],
  ])(
    "header-flood-hides-content-length: %s past the parser's field limit",
    async (framing, body) => {
      const before = app.seen.length;
      const response = await rawInbound(
        orders,
        "POST /tenants/acme/orders HTTP/1.1",
        "acme.orders.mesh.local",
        [...flood(2100), framing],
        body,
      );
      expect(statusOf(response)).toBe(431);
      expect(errorOf(response)).toBe("headers_too_large");
      expect(app.seen.length).toBe(before);
    },
  );

  it("header-count-over-limit: 101 fields refused, 100 accepted (Host and Connection count)", async () => {
    const before = app.seen.length;
    const over = await rawInbound(orders, "GET /tenants/acme/x HTTP/1.1", "a", flood(99));
    expect(statusOf(over)).toBe(431);
    expect(app.seen.length).toBe(before);
    const at = await rawInbound(orders, "GET /tenants/acme/x HTTP/1.1", "a", flood(98));
    expect(statusOf(at)).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("acme");
  });

  it("stamped-headers-written-first: the app reads the tenant before any client field", async () => {
    const response = await rawInbound(orders, "GET /tenants/acme/x HTTP/1.1", "a", [
      "zz-client: 1",
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ]);
    expect(statusOf(response)).toBe(200);
    const names = Object.keys(app.seen.at(-1)!.headers);
    const firstClient = names.indexOf("zz-client");
    for (const stamped of STAMPED) {
      expect(names.indexOf(stamped)).toBeGreaterThanOrEqual(0);
      expect(names.indexOf(stamped)).toBeLessThan(firstClient);
    }
  });

  it("outbound-header-count-flood: the app's own call over the limit never leaves the pod", async () => {
    const before = upstreamApp.seen.length;
    const text = [
      "GET /x HTTP/1.1",
      "Host: direct",
      "x-palisade-tenant: acme",
      ...flood(150),
      "Connection: close",
      "",
      "",
    ].join("\r\n");
    const response = await rawTcp(portOf(web.outbound), text);
    expect(statusOf(response)).toBe(431);
    expect(errorOf(response)).toBe("headers_too_large");
    expect(upstreamApp.seen.length).toBe(before);
    const ok = await send(undefined, `${web.outbound}/x`, {
      headers: { host: "direct", "x-palisade-tenant": "acme" },
    });
    expect(ok.status).toBe(200);
  });

  it("prototype-named-field: a field named constructor is an ordinary field", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: { constructor: "x", tostring: "y" },
    });
    expect(answer.status).toBe(200);
    expect(app.seen.at(-1)!.headers["constructor"]).toBe("x");
  });

  it("counts header-count refusals by status", async () => {
    const metrics = await (await fetch(`${orders.admin}/metrics`)).text();
    expect(metrics).toMatch(
      /palisade_requests_total\{direction="inbound",tenant="acme",[^}]*code="431"[^}]*\} [1-9]/,
    );
  });
});

describe("authority grammar", () => {
  it.each([
    ["acme.orders.example:1@globex.orders.example", "userinfo-in-host-names-other-tenant"],
    ["globex.orders.example/:443", "path-in-host-names-other-tenant"],
    ["globex%2Eorders%2Eexample", "percent-encoded-host-names-other-tenant"],
    ["globex.orders.example\\@acme.orders.example", "backslash-in-host"],
    ["acme.orders.example, globex.orders.example", "host-list"],
    ["acme.orders.example:99999", "port-out-of-range"],
    ["[::1%25eth0]:80", "zone-id-in-ip-literal"],
    ["", "empty-host"],
  ])("%s is a 400 bad_request (%s)", async (host) => {
    const before = app.seen.length;
    const response = await rawInbound(hostOrders, "GET /orders HTTP/1.1", host, []);
    expect(statusOf(response)).toBe(400);
    expect(errorOf(response)).toBe("bad_request");
    expect(app.seen.length).toBe(before);
  });

  it.each(["acme.orders.example", "acme.orders.example:15006", "[::1]:8080", "127.0.0.1"])(
    "%s is accepted",
    async (host) => {
      const response = await rawInbound(hostOrders, "GET /orders HTTP/1.1", host, []);
      expect(statusOf(response)).toBe(200);
      expect(hostAppSees(app.seen.at(-1)!)).not.toContain("globex");
    },
  );

  it.each([
    ["GET /x HTTP/1.1", "direct:1@elsewhere"],
    ["GET http://elsewhere@direct/x HTTP/1.1", "direct"],
    ["GET http://direct\\@elsewhere/x HTTP/1.1", "direct"],
  ])("outbound refuses a malformed authority too: %s, Host %s", async (line, host) => {
    const before = upstreamApp.seen.length;
    const text = [
      line,
      `Host: ${host}`,
      "x-palisade-tenant: acme",
      "Connection: close",
      "",
      "",
    ].join("\r\n");
    const response = await rawTcp(portOf(web.outbound), text);
    expect(statusOf(response)).toBe(400);
    expect(errorOf(response)).toBe("bad_request");
    expect(upstreamApp.seen.length).toBe(before);
  });
});

const ROUTING_HEADERS: Record<string, string> = {
  forwarded: "host=globex.orders.example;proto=https",
  "x-forwarded-host": "globex.orders.example",
  "x-forwarded-prefix": "/tenants/globex",
  "x-forwarded-uri": "/tenants/globex/orders",
  "x-forwarded-server": "globex.orders.example",
  "x-forwarded-proto": "https",
  "x-forwarded-port": "443",
  "x-forwarded-for": "10.0.0.1",
  "x-original-uri": "/tenants/globex/orders",
  "x-original-url": "/tenants/globex/orders",
  "x-original-host": "globex.orders.example",
  "x-host": "globex.orders.example",
  "x-rewrite-url": "/tenants/globex/orders",
  "x-http-method-override": "DELETE",
  x_forwarded_host: "globex.orders.example",
  "X-Forwarded_Prefix": "/tenants/globex",
};

describe("routing headers", () => {
  it("forwarded-host-reaches-app: every routing header is stripped, not refused", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: ROUTING_HEADERS,
    });
    expect(answer.status).toBe(200);
    const seen = Object.keys(app.seen.at(-1)!.headers);
    for (const name of Object.keys(ROUTING_HEADERS)) expect(seen).not.toContain(name.toLowerCase());
    expect(seen.filter((n) => /forward|original|^x-host/.test(n))).toEqual([]);
  });

  it("outbound-forwards-routing-headers: the app's own calls keep them (the peer decides)", async () => {
    const answer = await send(undefined, `${web.outbound}/x`, {
      headers: { host: "direct", "x-palisade-tenant": "acme", "x-forwarded-prefix": "/api" },
    });
    expect(answer.status).toBe(200);
    expect(upstreamApp.seen.at(-1)!.headers["x-forwarded-prefix"]).toBe("/api");
  });

  describe("with inbound.allowHeaders", () => {
    let allowing: RunningSidecar;
    beforeAll(async () => {
      const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
      (config["inbound"] as Record<string, unknown>)["allowHeaders"] = ["x-forwarded-proto"];
      allowing = await startSidecar(config);
    });
    afterAll(async () => {
      await allowing?.stop();
    });

    it("allowed-routing-header-passes: only the named one, only in its dashed spelling", async () => {
      const answer = await send(acme, `${allowing.inbound}/tenants/acme/orders`, {
        headers: {
          "x-forwarded-proto": "https",
          x_forwarded_proto: "http",
          "x-forwarded-host": "g",
        },
      });
      expect(answer.status).toBe(200);
      const headers = app.seen.at(-1)!.headers;
      expect(headers["x-forwarded-proto"]).toBe("https");
      expect(headers["x_forwarded_proto"]).toBeUndefined();
      expect(headers["x-forwarded-host"]).toBeUndefined();
    });
  });

  it("underscore-target-header-bypasses-ambiguity: x_target_tenant disagreeing with the path", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: { x_target_tenant: "globex" },
    });
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: "ambiguous_target" });
    expect(app.seen.length).toBe(before);
  });

  it("underscore-target-header-repeats-target: both spellings are one repeated source", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/health`, {
      headers: { "x-target-tenant": "acme", x_target_tenant: "globex" },
    });
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: "ambiguous_target" });
    expect(app.seen.length).toBe(before);
  });

  it("underscore-target-header-names-other-tenant: read as the target, so the grant check runs", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/health`, {
      headers: { x_target_tenant: "globex" },
    });
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: "cross_tenant_denied" });
    expect(app.seen.length).toBe(before);
  });
});

describe("punctuation spellings (PHP reads `.` and other punctuation as `_`)", () => {
  it("dotted-reserved-name-spoofs-php-tenant: x.palisade.tenant is x-palisade-tenant", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/health`, {
      headers: { "x.palisade.tenant": "globex" },
    });
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: "tenant_context_mismatch" });
    expect(app.seen.length).toBe(before);
  });

  it("dotted-reserved-name-is-stripped-and-audited: any other reserved name", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: {
        "x.palisade.caller": "spiffe://mesh.local/tenant/globex/sa/x",
        "x~tenant~id": "globex",
      },
    });
    expect(answer.status).toBe(200);
    const names = Object.keys(app.seen.at(-1)!.headers);
    expect(names.filter((n) => /caller|tenant.id/.test(n))).toEqual(["x-palisade-caller"]);
    expect(orders.logs.some((l) => l["reason"] === "spoofed_header")).toBe(true);
  });

  it("dotted-target-header-bypasses-target-check: x.target.tenant is read as the target", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/health`, {
      headers: { "x.target.tenant": "globex" },
    });
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: "cross_tenant_denied" });
    expect(app.seen.length).toBe(before);
  });

  it("dotted-routing-header-reaches-app: x.forwarded.host and x.original.url are stripped", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: {
        "x.forwarded.host": "globex",
        "x.original.url": "/tenants/globex/x",
        "x.http.method.override": "DELETE",
      },
    });
    expect(answer.status).toBe(200);
    const names = Object.keys(app.seen.at(-1)!.headers);
    expect(names.filter((n) => /forwarded|original|override/.test(n))).toEqual([]);
  });
});

describe("reserved-name floods", () => {
  it("reserved-name-flood-amplifies-audit: one audit line and one anomaly event per request", async () => {
    const names = Array.from({ length: 60 }, (_, i) => `x-palisade-spoof-${i}`);
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: Object.fromEntries(names.map((n) => [n, "1"])),
    });
    expect(answer.status).toBe(200);
    const requestId = answer.headers["x-request-id"];
    const lines = orders.logs.filter(
      (l) => l.log === "audit" && l["reason"] === "spoofed_header" && l["requestId"] === requestId,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]!["headerCount"]).toBe(60);
    const listed = lines[0]!["headers"] as string[];
    expect(listed.length).toBeLessThanOrEqual(10);
    expect(listed[0]).toBe("x-palisade-spoof-0");
    // One event cannot reach the default threshold of 10: no alert from a single request.
    expect(orders.logs.filter((l) => l["status"] === "firing")).toEqual([]);
  });

  it("a look-alike reserved name is listed too (underscore spelling)", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: { "x-palisade_caller": "spiffe://mesh.local/tenant/globex/sa/web" },
    });
    expect(answer.status).toBe(200);
    const line = orders.logs.findLast(
      (l) => l.log === "audit" && l["requestId"] === answer.headers["x-request-id"],
    );
    expect(line).toMatchObject({ headers: ["x-palisade-caller"], headerCount: 1 });
  });
});
