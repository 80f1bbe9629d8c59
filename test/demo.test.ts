/**
 * `npm start`'s demo mesh: the four curl lines it prints do what they say.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Agent } from "undici";
import { startDemo, type RunningDemo } from "../src/demo.js";
import { send } from "./support/mesh.js";

let dir: string;
let demo: RunningDemo;
const agents: Agent[] = [];

async function as(tenant: string, host: string): Promise<Agent> {
  const file = (name: string) => readFile(join(demo.pki, tenant, name), "utf8");
  const agent = new Agent({
    connect: {
      cert: await file("cli.crt"),
      key: await file("cli.key"),
      ca: await file("ca.crt"),
      servername: host,
    },
  });
  agents.push(agent);
  return agent;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-demo-"));
  demo = await startDemo({ dir, portBase: 0 });
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await demo?.stop();
  await rm(dir, { recursive: true, force: true });
});

it("prints curl lines for each case", () => {
  expect(demo.curlLines.join("\n")).toMatch(/cross_tenant_denied[\s\S]*tenant_context_mismatch/);
  // The refusals and the grant happen at the orders sidecar: its metrics are the ones to read.
  expect(demo.curlLines.at(-1)).toContain(`127.0.0.1:${demo.ports.ordersAdmin}/metrics`);
});

it("serves a same-tenant call through both sidecars", async () => {
  const host = "acme.web.mesh.local";
  const answer = await send(
    await as("acme", host),
    `https://127.0.0.1:${demo.ports.webInbound}/tenants/acme/dashboard`,
    {
      headers: { host },
    },
  );
  expect(answer.status).toBe(200);
  expect(answer.json()).toMatchObject({
    dashboard: "acme",
    ordersStatus: 200,
    orders: { tenant: "acme", servedFor: "acme" },
  });
});

it("refuses a cross-tenant call and a spoofed tenant header", async () => {
  const host = "acme.orders.mesh.local";
  const acme = await as("acme", host);
  const url = `https://127.0.0.1:${demo.ports.ordersInbound}/tenants/globex/orders`;
  expect((await send(acme, url)).json()).toMatchObject({ error: "cross_tenant_denied" });
  const spoofed = await send(acme, url, { headers: { "x-palisade-tenant": "globex" } });
  expect(spoofed.status).toBe(403);
  expect(spoofed.json()).toMatchObject({ error: "tenant_context_mismatch" });
});

it("serves a granted cross-tenant read, projected", async () => {
  const globex = await as("globex", "globex.orders.mesh.local");
  const answer = await send(
    globex,
    `https://127.0.0.1:${demo.ports.ordersInbound}/tenants/acme/reports/q3`,
  );
  expect(answer.status).toBe(200);
  expect(answer.json()).toEqual({ id: "acme-q3", total: 1234 });
});
