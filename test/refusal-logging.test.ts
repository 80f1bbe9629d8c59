/**
 * Hostile input always leaves a trace: with the access log switched off
 * (`telemetry.logs.access: false`), served requests write nothing, but every refusal still
 * writes one warn line with its code, beside its counter. The switch is read per request
 * from the current generation: a reload flips it without a restart.
 */
import { rm, writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import type { Agent } from "undici";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApp, type TestApp } from "./support/app.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

let pki: Pki;
let app: TestApp;
let sidecar: RunningSidecar;
let acme: Agent;
let config: Record<string, unknown>;

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders"]);
  app = await startApp();
  config = baseConfig(pki, "orders", ["acme", "globex"], app.url);
  config["telemetry"] = { logs: { level: "info", access: false } };
  sidecar = await startSidecar(config);
  acme = await tenantClient(pki, "acme", "orders", "orders");
});

afterAll(async () => {
  await acme?.close();
  await sidecar?.stop();
  await app?.close();
  await rm(pki.dir, { recursive: true, force: true });
});

const accessLines = () => sidecar.logs.filter((l) => l.log === "access");

it("access-log-off-hides-refusals: a served request writes no access line", async () => {
  const before = accessLines().length;
  expect((await send(acme, `${sidecar.inbound}/tenants/acme/orders`)).status).toBe(200);
  expect(accessLines().length).toBe(before);
});

it("access-log-off-hides-refusals: every refusal writes one warn line with its code", async () => {
  const before = accessLines().length;
  const refusals = [
    { url: "/tenants/globex/orders", headers: {}, code: "cross_tenant_denied" },
    {
      url: "/tenants/acme/orders",
      headers: { "x.palisade.tenant": "globex" },
      code: "tenant_context_mismatch",
    },
    { url: "/tenants/acme/%EF%BC%8E%EF%BC%8E/globex", headers: {}, code: "ambiguous_target" },
    {
      url: "/tenants/acme/orders",
      headers: Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`x-f${i}`, "1"])),
      code: "headers_too_large",
    },
  ];
  for (const { url, headers, code } of refusals) {
    const answer = await send(acme, `${sidecar.inbound}${url}`, { headers });
    expect(answer.json()).toMatchObject({ error: code });
  }
  const lines = accessLines().slice(before);
  expect(lines.map((l) => [l.level, l["error"]])).toEqual(refusals.map((r) => ["warn", r.code]));
});

/** Rewrites the config with the access log switched `on` and reloads it in place. */
async function switchAccessLog(on: boolean): Promise<void> {
  const id = sidecar.sidecar.generation.id;
  config["telemetry"] = { logs: { level: "info", access: on } };
  await writeFile(sidecar.configFile, stringify(config));
  expect(await sidecar.sidecar.reload("SIGHUP")).toBe(true);
  expect(sidecar.sidecar.generation.id).toBe(id + 1);
}

it("access-log-switch-reloads: served requests are logged from the reload on, and stop again", async () => {
  const served = async (): Promise<number> => {
    const before = accessLines().length;
    expect((await send(acme, `${sidecar.inbound}/tenants/acme/orders`)).status).toBe(200);
    return accessLines().length - before;
  };
  expect(await served()).toBe(0);
  await switchAccessLog(true);
  expect(await served()).toBe(1);
  expect(accessLines().at(-1)).toMatchObject({ level: "info", status: 200, tenant: "acme" });
  await switchAccessLog(false);
  expect(await served()).toBe(0);
});
