/**
 * The outbound path and the two-sidecar chain app → outbound → mTLS → inbound → app,
 * with the app's own confused-deputy mistakes stopped before they leave the pod.
 */
import { request as httpRequest } from "node:http";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { rawTcp, statusOf } from "./support/raw.js";
import { echo, type TestApp } from "./support/app.js";
import { baseConfig, send, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

let ordersApp: TestApp;
let webApp: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let acme: Agent;
/** The context token the web app received on its last inbound request. */
let lastContext = "";

const mesh = withMesh(["acme", "globex"], ["orders", "web", "cli"]);

beforeAll(async () => {
  ordersApp = await mesh.app();
  orders = await mesh.sidecar(baseConfig(mesh.pki, "orders", ["acme", "globex"], ordersApp.url));
  webApp = await mesh.app((req, res, body) => {
    lastContext = String(req.headers["x-palisade-context"]);
    echo(req, res, body);
  });
  const webConfig = baseConfig(mesh.pki, "web", ["acme", "globex"], webApp.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: {
      orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } },
      // Points at the orders sidecar but expects a "billing" SVID: must be refused.
      billing: { url: orders.inbound, sni: "{tenant}.orders.mesh.local" },
    },
  };
  web = await mesh.sidecar(webConfig);
  acme = await mesh.client("acme", "cli", "web");
  // One inbound request gives the web app a real context token for acme.
  expect((await send(acme, `${web.inbound}/tenants/acme/home`)).status).toBe(200);
});

function viaOutbound(path: string, headers: Record<string, string>) {
  return send(undefined, `${web.outbound}${path}`, { headers: { host: "orders", ...headers } });
}

describe("two-sidecar chain", () => {
  it("app → outbound → mTLS → inbound → app, as the token's tenant", async () => {
    const answer = await viaOutbound("/tenants/acme/orders", { "x-palisade-context": lastContext });
    expect(answer.status).toBe(200);
    const seen = ordersApp.seen.at(-1)!;
    expect(seen.url).toBe("/tenants/acme/orders");
    expect(seen.headers["x-palisade-tenant"]).toBe("acme");
    expect(seen.headers["x-palisade-caller"]).toBe("spiffe://mesh.local/tenant/acme/sa/web");
  });

  it("accepts absolute-form requests from HTTP_PROXY clients", async () => {
    const { port } = new URL(web.outbound);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          path: "http://orders/tenants/acme/orders",
          headers: { "x-palisade-context": lastContext },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(ordersApp.seen.at(-1)!.url).toBe("/tenants/acme/orders");
  });
});

describe("outbound refusals never leave the pod", () => {
  async function expectRefused(
    path: string,
    headers: Record<string, string>,
    status: number,
    code: string,
  ) {
    const before = ordersApp.seen.length;
    const answer = await viaOutbound(path, headers);
    expect(answer.status).toBe(status);
    expect(answer.json()).toMatchObject({ error: code });
    expect(ordersApp.seen.length).toBe(before);
  }

  it("confused deputy: acme's context calling for globex's data", async () => {
    await expectRefused(
      "/tenants/globex/orders",
      { "x-palisade-context": lastContext },
      403,
      "cross_tenant_denied",
    );
  });

  it("no tenant context", async () => {
    await expectRefused("/tenants/acme/orders", {}, 403, "tenant_context_missing");
  });

  it("unsigned tenant header when allowUnsignedTenant is off", async () => {
    await expectRefused(
      "/tenants/acme/orders",
      { "x-palisade-tenant": "acme" },
      403,
      "tenant_context_missing",
    );
  });

  it("forged or tampered context token", async () => {
    const [payload, mac] = lastContext.split(".");
    const forged = Buffer.from(
      JSON.stringify({ t: "globex", c: "x", r: "r", e: Date.now() + 60_000 }),
    ).toString("base64url");
    await expectRefused(
      "/tenants/globex/orders",
      { "x-palisade-context": `${forged}.${mac}` },
      403,
      "tenant_context_invalid",
    );
    await expectRefused(
      "/tenants/acme/orders",
      { "x-palisade-context": `${payload}.AAAA` },
      403,
      "tenant_context_invalid",
    );
  });

  it("context and tenant header that disagree", async () => {
    await expectRefused(
      "/tenants/acme/orders",
      { "x-palisade-context": lastContext, "x-palisade-tenant": "globex" },
      403,
      "tenant_context_mismatch",
    );
  });

  it("unknown upstream", async () => {
    const answer = await send(undefined, `${web.outbound}/x`, {
      headers: { host: "nowhere", "x-palisade-context": lastContext },
    });
    expect(answer.status).toBe(404);
    expect(answer.json()).toMatchObject({ error: "unknown_upstream" });
  });

  it("an upstream whose certificate names another service", async () => {
    const before = ordersApp.seen.length;
    const answer = await send(undefined, `${web.outbound}/tenants/acme/orders`, {
      headers: { host: "billing", "x-palisade-context": lastContext },
    });
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "upstream_unavailable" });
    expect(ordersApp.seen.length).toBe(before);
  });
});

describe("requests Palisade does not proxy", () => {
  const port = () => Number(new URL(web.outbound).port);

  it("CONNECT is a 400 bad_request, and the listener keeps serving", async () => {
    const response = await rawTcp(
      port(),
      "CONNECT orders:443 HTTP/1.1\r\nHost: orders:443\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"bad_request"');
    const answer = await viaOutbound("/tenants/acme/orders", { "x-palisade-context": lastContext });
    expect(answer.status).toBe(200);
  });

  it("an unsupported Expect is a 400 bad_request", async () => {
    const response = await rawTcp(
      port(),
      "GET /tenants/acme/orders HTTP/1.1\r\nHost: orders\r\nExpect: teapot\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"bad_request"');
  });
});
