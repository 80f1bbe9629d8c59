/**
 * The access log users pipe anywhere: Envoy's default fields on every line, a filter by
 * decision, status class and caller tenant, and a sample of served requests, all read from
 * the generation a request was served under. A refusal is logged whatever they say.
 */
import { writeFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { sampled } from "../src/telemetry/access-log.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, type LogLine, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const RATIO = 0.5;
let orders: RunningSidecar;
let config: Record<string, unknown>;
let acme: Agent;
let globex: Agent;

/** Request ids on either side of the sample: the decision is a function of the id. */
const ids = Array.from({ length: 64 }, (_, i) => `access-${String(i)}`);
const inSample = ids.filter((id) => sampled(id, RATIO));
const outOfSample = ids.filter((id) => !sampled(id, RATIO));

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  const app = await mesh.app();
  config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  config["telemetry"] = {
    logs: {
      level: "info",
      accessFilter: { tenants: ["acme"], statusClasses: ["2xx"], sampleRatio: RATIO },
    },
  };
  orders = await mesh.sidecar(config);
  acme = await mesh.client("acme", "web", "orders");
  globex = await mesh.client("globex", "web", "orders");
});

function accessLine(requestId: string): LogLine | undefined {
  return orders.logs.find((l) => l.log === "access" && l["requestId"] === requestId);
}

async function call(agent: Agent, path: string, requestId: string, body?: string) {
  return send(agent, `${orders.inbound}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "x-request-id": requestId, "user-agent": "access-log-test/1" },
    ...(body === undefined ? {} : { body }),
  });
}

/**
 * Sends a request the filter logs and waits for its line: requests are sent one after
 * another, so every earlier request has been reported by then.
 */
async function settle(id: string): Promise<void> {
  expect((await call(acme, "/tenants/acme/settle", id)).status).toBe(200);
  await eventually(async () => Promise.resolve(accessLine(id)), `access line ${id}`, 5_000);
}

describe("access log", () => {
  it("has ids on both sides of the sample", () => {
    expect(inSample.length).toBeGreaterThan(8);
    expect(outOfSample.length).toBeGreaterThan(8);
  });

  it("writes Envoy's default fields", async () => {
    const id = inSample[0] as string;
    expect((await call(acme, "/tenants/acme/orders?q=1", id, "x".repeat(321))).status).toBe(200);
    const line = await eventually(
      async () => Promise.resolve(accessLine(id)),
      "the access line",
      5_000,
    );
    expect(line).toMatchObject({
      level: "info",
      direction: "inbound",
      method: "POST",
      path: "/tenants/acme/orders",
      protocol: "HTTP/1.1",
      authority: new URL(orders.inbound).host,
      userAgent: "access-log-test/1",
      status: 200,
      tenant: "acme",
      caller: "spiffe://mesh.local/tenant/acme/sa/web",
      peer: "web",
      decision: "allow",
      bytesReceived: 321,
      bytesSent: expect.any(Number),
      upstreamMs: expect.any(Number),
      durationMs: expect.any(Number),
    });
    expect(line?.["bytesSent"]).toBeGreaterThan(0);
    expect(line?.["upstreamMs"]).toBeLessThanOrEqual(line?.["durationMs"] as number);
  });

  it("logs a served request only inside the filter and the sample; a refusal always", async () => {
    const [kept, , , , settleId] = inSample.slice(1);
    const [dropped, otherTenant, refused] = outOfSample;
    expect((await call(acme, "/tenants/acme/a", kept as string)).status).toBe(200);
    expect((await call(acme, "/tenants/acme/b", dropped as string)).status).toBe(200);
    expect((await call(globex, "/tenants/globex/c", inSample[2] as string)).status).toBe(200);
    expect((await call(globex, "/tenants/globex/d", otherTenant as string)).status).toBe(200);
    // Out of the sample, not a 2xx, and refused: logged, at warn.
    expect((await call(acme, "/tenants/globex/e", refused as string)).status).toBe(403);
    await settle(settleId as string);

    expect(accessLine(kept as string)).toBeDefined();
    expect(accessLine(dropped as string), "out of the sample").toBeUndefined();
    expect(accessLine(inSample[2] as string), "tenant not in the filter").toBeUndefined();
    expect(accessLine(refused as string)).toMatchObject({
      level: "warn",
      error: "cross_tenant_denied",
      status: 403,
      bytesSent: expect.any(Number),
    });
  });

  it("applies a reloaded filter from the next request", async () => {
    const next = {
      ...config,
      telemetry: { logs: { level: "info", accessFilter: { decisions: ["allow"] } } },
    };
    await writeFile(orders.configFile, stringify(next));
    expect(await orders.sidecar.reload("test")).toBe(true);
    const id = outOfSample[5] as string;
    expect((await call(globex, "/tenants/globex/f", id)).status).toBe(200);
    await settle(outOfSample[6] as string);
    expect(accessLine(id)).toMatchObject({ tenant: "globex", decision: "allow" });
  });
});
