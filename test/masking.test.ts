/**
 * Masked projections through a real sidecar: masked fields at several depths leave as
 * markers, hashes and truncations; a hash is the documented HMAC, stable across requests,
 * and a reload with a rotated key file changes it on a connection that stays open. Also
 * a policy rollout: an audit-mode grant allows nothing but is counted and audited as
 * `would_allow`, and switching it to enforce by reload takes effect on the same open
 * connection.
 */
import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { startApp, type AppHandler, type TestApp } from "./support/app.js";
import { PinnedClient } from "./support/tls-client.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

const FIRST_KEY = Buffer.from("first hash key, 32 bytes long!!!");
const SECOND_KEY = Buffer.from("second hash key, also 32 bytes!!");

const REPORT = {
  id: "q3",
  card: "4111 1111 1111 1111",
  customer: { name: "Wile E. Coyote", email: "wile@acme.example", phone: "+1 555" },
  items: [
    { id: "i1", sku: "ACME-ROCKET-1", secret: "cost 3" },
    { id: "i2", sku: 77, secret: { cost: 4 } },
  ],
};

const handler: AppHandler = (_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(REPORT));
};

const hmac = (key: Buffer, value: unknown) =>
  `hmac-sha256:${createHmac("sha256", key).update(JSON.stringify(value)).digest("base64url")}`;

const future = new Date(Date.now() + 30 * 86_400_000).toISOString();

let pki: Pki;
let app: TestApp;
let orders: RunningSidecar;
let globex: Agent;
let keyDir: string;
let config: Record<string, unknown>;

function grants(auditMode: "audit" | "enforce"): unknown[] {
  return [
    {
      id: "globex-masked",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      fields: [
        "id",
        { path: "card", mask: "redact" },
        "customer.name",
        { path: "customer.email", mask: "hash" },
        "items[].id",
        { path: "items[].sku", mask: "truncate:4" },
        { path: "items[].secret", mask: "redact" },
      ],
      expires: future,
    },
    {
      id: "initech-rollout",
      from: "initech",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      mode: auditMode,
      expires: future,
    },
  ];
}

beforeAll(async () => {
  pki = await makePki(["acme", "globex", "initech"], ["orders", "web"]);
  app = await startApp(handler);
  keyDir = await mkdtemp(join(tmpdir(), "palisade-hash-key-"));
  await writeFile(join(keyDir, "hash.key"), FIRST_KEY);
  config = baseConfig(pki, "orders", ["acme", "globex", "initech"], app.url);
  config["projection"] = { hashKeyFile: join(keyDir, "hash.key") };
  config["grants"] = grants("audit");
  orders = await startSidecar(config);
  globex = await tenantClient(pki, "globex", "web", "orders");
});

afterAll(async () => {
  await globex?.close();
  await orders?.stop();
  await app?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

async function report(): Promise<Record<string, unknown>> {
  const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/q3`);
  expect(answer.status).toBe(200);
  return answer.json();
}

/** Reloads explicitly (the test sidecar does not watch) and waits for the new generation. */
async function reload(): Promise<void> {
  const before = orders.sidecar.generation.id;
  expect(await orders.sidecar.reload("test")).toBe(true);
  expect(orders.sidecar.generation.id).toBeGreaterThan(before);
}

describe("masked projections end to end", () => {
  it("masks at every depth and keeps only the selection", async () => {
    expect(await report()).toEqual({
      id: "q3",
      card: "[redacted]",
      customer: { name: "Wile E. Coyote", email: hmac(FIRST_KEY, "wile@acme.example") },
      items: [
        { id: "i1", sku: "ACME", secret: "[redacted]" },
        { id: "i2", sku: "[redacted]", secret: "[redacted]" },
      ],
    });
    const text = JSON.stringify(await report());
    for (const leak of ["4111", "wile@acme", "+1 555", "cost", "ROCKET"])
      expect(text).not.toContain(leak);
  });

  it("hashes stably across requests, and a rotated key file changes the hash on reload", async () => {
    const first = ((await report())["customer"] as Record<string, unknown>)["email"];
    expect(((await report())["customer"] as Record<string, unknown>)["email"]).toBe(first);
    await writeFile(join(keyDir, "hash.key"), SECOND_KEY);
    await reload();
    const second = ((await report())["customer"] as Record<string, unknown>)["email"];
    expect(second).toBe(hmac(SECOND_KEY, "wile@acme.example"));
    expect(second).not.toBe(first);
  });
});

describe("audit-mode grant end to end", () => {
  it("allows nothing while in audit mode but counts and audits would_allow; switched to enforce by reload, it allows on the same kept-alive connection", async () => {
    const path = "/tenants/acme/reports/q3";
    const pinned = new PinnedClient(Number(new URL(orders.inbound).port), {
      cert: await pki.cert("initech", "web"),
      key: await pki.key("initech", "web"),
      ca: await pki.ca("initech"),
      servername: "initech.orders.mesh.local",
    });
    try {
      const before = app.seen.length;
      const refused = await pinned.get(path);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ error: "cross_tenant_denied" });
      expect(app.seen.length).toBe(before);
      expect(await wouldAllow()).toBe(1);
      const requestId = refused.headers["x-request-id"];
      const lines = orders.logs.filter((l) => l.log === "audit" && l["requestId"] === requestId);
      // The request's own denial, and beside it what the audit-mode grant would have done.
      expect(lines.map((l) => l["decision"]).sort()).toEqual(["deny", "would_allow"]);
      expect(lines.find((l) => l["decision"] === "would_allow")).toMatchObject({
        grant: "initech-rollout",
        caller: "initech",
        target: "acme",
        enforced: "deny",
        status: 403,
      });

      await writeFile(orders.configFile, stringify({ ...config, grants: grants("enforce") }));
      await reload();
      const allowed = await pinned.get(path);
      expect(allowed.socket).toBe(refused.socket);
      expect(allowed.status).toBe(200);
      expect(JSON.parse(allowed.body)).toEqual(REPORT);
      // Enforced now: no longer a dry run, so no longer counted as one.
      expect(await wouldAllow()).toBe(1);
    } finally {
      pinned.close();
    }
  });
});

/** `palisade_policy_audit_total{tenant="initech",target="acme",result="would_allow"}`. */
async function wouldAllow(): Promise<number> {
  const text = (await send(undefined, `${orders.admin}/metrics`)).text;
  const series = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("palisade_policy_audit_total{") &&
        l.includes('tenant="initech"') &&
        l.includes('target="acme"') &&
        l.includes('result="would_allow"'),
    );
  return series === undefined ? 0 : Number(series.split(" ").at(-1));
}
