/**
 * Controlled sharing over the real proxy: a grant allows exactly its methods and paths,
 * only its fields leave, and nothing else crosses. Every allowed use is audited.
 */
import { writeFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { type AppHandler, type TestApp } from "./support/app.js";
import { baseConfig, send, tenantClient, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { rawTls, statusOf } from "./support/raw.js";

const REPORT = {
  id: "q3",
  total: 1234,
  margin: 0.42,
  customer: { name: "Wile E.", email: "wile@acme.example" },
  items: [
    { id: "i1", price: 10, secret: "x" },
    { id: "i2", price: 20, secret: "y" },
  ],
};

const handler: AppHandler = (req, res) => {
  const url = req.url ?? "";
  if (url.endsWith("/text")) {
    res.writeHead(200, { "content-type": "text/plain" });
    return void res.end("acme internal notes");
  }
  if (url.endsWith("/big")) {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify({ id: "big", blob: "x".repeat(8192) }));
  }
  if (url.endsWith("/missing")) {
    res.writeHead(404, { "content-type": "text/plain" });
    return void res.end("acme has no report named missing (internal id 77)");
  }
  res.writeHead(200, {
    "content-type": "application/json",
    "set-cookie": "s=1",
    "x-internal": "acme",
    etag: '"v7"',
  });
  res.end(JSON.stringify(REPORT));
};

let app: TestApp;
let orders: RunningSidecar;
let globex: Agent;
let initech: Agent;
let config: Record<string, unknown>;

const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
const past = new Date(Date.now() - 86_400_000).toISOString();

const mesh = withMesh(["acme", "globex", "initech", "umbrella"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app(handler);
  config = baseConfig(mesh.pki, "orders", ["acme", "globex", "initech", "umbrella"], app.url);
  config["projection"] = { maxBytes: "4Ki" };
  config["grants"] = [
    {
      id: "globex-reports",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      fields: ["id", "total", "customer.name", "items[].id"],
      expires: future,
    },
    {
      id: "globex-inventory",
      from: "globex",
      to: "acme",
      methods: ["GET", "PUT"],
      paths: ["/tenants/acme/inventory/*"],
      expires: future,
    },
    {
      id: "initech-expired",
      from: "initech",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/**"],
      expires: past,
    },
    {
      id: "umbrella-disabled",
      from: "umbrella",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/**"],
      expires: future,
      enabled: false,
    },
  ];
  orders = await mesh.sidecar(config);
  globex = await mesh.client("globex", "web", "orders");
  initech = await mesh.client("initech", "web", "orders");
});

async function expectDenied(
  agent: Agent,
  path: string,
  method = "GET",
  status = 403,
  code = "cross_tenant_denied",
) {
  const before = app.seen.length;
  const answer = await send(agent, `${orders.inbound}${path}`, { method });
  expect(answer.status).toBe(status);
  expect(answer.json()).toMatchObject({ error: code });
  expect(app.seen.length).toBe(before);
}

describe("a grant allows exactly its methods and paths", () => {
  it("allows a granted read, projected at every depth", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/q3`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      id: "q3",
      total: 1234,
      customer: { name: "Wile E." },
      items: [{ id: "i1" }, { id: "i2" }],
    });
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("globex");
  });

  it("drops headers that could carry data on projected responses", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/q3`);
    expect(answer.headers["set-cookie"]).toBeUndefined();
    expect(answer.headers["x-internal"]).toBeUndefined();
    expect(answer.headers["etag"]).toBeUndefined();
    expect(Number(answer.headers["content-length"])).toBe(Buffer.byteLength(answer.text));
  });

  it("allows an unprojected grant's methods", async () => {
    expect((await send(globex, `${orders.inbound}/tenants/acme/inventory/widgets`)).status).toBe(
      200,
    );
    expect(
      (
        await send(globex, `${orders.inbound}/tenants/acme/inventory/widgets`, {
          method: "PUT",
          body: "{}",
        })
      ).status,
    ).toBe(200);
  });

  it.each([
    ["POST", "/tenants/acme/reports/q3", "method not granted"],
    ["DELETE", "/tenants/acme/inventory/widgets", "method not granted"],
    ["GET", "/tenants/acme/orders", "path not granted"],
    ["GET", "/tenants/acme/REPORTS/q3", "case differs"],
    ["GET", "/tenants/acme/inventory/widgets/deep", "* is one segment"],
    ["GET", "/tenants/acme/inventory/", "* is never empty"],
    ["GET", "/tenants/acme/%72eports/q3", "percent-encoded letter"],
    ["GET", "/tenants/acme", "parent of the grant"],
  ])("%s %s is denied (%s)", async (method, path) => {
    await expectDenied(globex, path, method);
  });

  it.each([
    "/tenants/acme/reports/../orders",
    "/tenants/acme/reports/%2e%2e/orders",
    "/tenants/acme/reports%2F..%2Forders",
    "/tenants/acme/reports//q3",
  ])("path trick %s is refused before matching", async (path) => {
    const before = app.seen.length;
    const response = await rawTls(
      Number(new URL(orders.inbound).port),
      {
        cert: await mesh.pki.cert("globex", "web"),
        key: await mesh.pki.key("globex", "web"),
        ca: await mesh.pki.ca("globex"),
        servername: "globex.orders.mesh.local",
      },
      `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(400);
    expect(app.seen.length).toBe(before);
  });

  it("grants do not run backwards", async () => {
    const acme = await tenantClient(mesh.pki, "acme", "web", "orders");
    try {
      await expectDenied(acme, "/tenants/globex/reports/q3");
    } finally {
      await acme.close();
    }
  });

  it("an expired grant is refused", async () => {
    await expectDenied(initech, "/tenants/acme/reports/q3");
  });

  it("a disabled grant is refused", async () => {
    const umbrella = await tenantClient(mesh.pki, "umbrella", "web", "orders");
    try {
      await expectDenied(umbrella, "/tenants/acme/reports/q3");
    } finally {
      await umbrella.close();
    }
  });
});

describe("projection refuses what it cannot project", () => {
  it("a non-JSON response under a projecting grant is refused", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/text`);
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "projection_refused" });
    expect(answer.text).not.toContain("internal notes");
  });

  it("a response over projection.maxBytes is refused", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/big`);
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "projection_refused" });
  });

  it("an error answer keeps its status and loses its body", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/missing`);
    expect(answer.status).toBe(404);
    expect(answer.text).toBe("");
  });
});

describe("audit", () => {
  it("records every grant use and counts it", async () => {
    const uses = orders.logs.filter((l) => l.log === "audit" && l["grant"] === "globex-reports");
    expect(uses.length).toBeGreaterThan(0);
    expect(uses[0]).toMatchObject({
      caller: "globex",
      target: "acme",
      method: "GET",
      path: "/tenants/acme/reports/q3",
      status: 200,
    });
    expect(uses[0]!["requestId"]).toEqual(expect.any(String));
    expect(uses[0]!["bytes"]).toEqual(expect.anything());
    const metrics = await send(undefined, `${orders.admin}/metrics`);
    expect(metrics.text).toMatch(
      /palisade_cross_tenant_granted_total\{tenant="globex",target="acme",workload="orders"\} [1-9]/,
    );
  });
});

describe("reload", () => {
  it("removing a grant takes effect on an open connection", async () => {
    expect((await send(globex, `${orders.inbound}/tenants/acme/inventory/widgets`)).status).toBe(
      200,
    );
    const next = {
      ...config,
      grants: (config["grants"] as unknown[]).filter(
        (g) => (g as { id: string }).id !== "globex-inventory",
      ),
    };
    await writeFile(orders.configFile, stringify(next));
    expect(await orders.sidecar.reload("test")).toBe(true);
    await expectDenied(globex, "/tenants/acme/inventory/widgets");
    await writeFile(orders.configFile, stringify(config));
    expect(await orders.sidecar.reload("test")).toBe(true);
  });
});
