/**
 * metric-cardinality-flood: a caller naming a hundred invented tenants — as path targets,
 * target headers, asserted tenants inbound and outbound, and TLS server names — and
 * invented upstreams and calling services must not add a single series to `/metrics`.
 * Only configured tenants, upstreams and named peers are label values (DESIGN.md
 * "Telemetry"), so the series count is bounded by config, not by traffic.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { issueLeaf } from "../src/tls/dev-pki.js";
import { type TestApp } from "./support/app.js";
import { baseConfig, send, TRUST_DOMAIN, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

/**
 * One invented id that became a label value would already show (the label-value check
 * below catches even the first); a hundred also overflows any small bounded label cache.
 * More ids would add time, not power.
 */
const FLOOD = 100;
const CONCURRENCY = 16;

let app: TestApp;
let orders: RunningSidecar;
let acme: Agent;
/** acme clients whose SVIDs name services no config names (`sa/t-9000`, …). */
const inventedPeers: Agent[] = [];
const INVENTED_PEERS = 4;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app();
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  const inbound = config["inbound"] as Record<string, unknown>;
  inbound["target"] = { path: "/tenants/{tenant}/**", header: "x-target-tenant" };
  config["outbound"] = {
    listen: "127.0.0.1:0",
    allowUnsignedTenant: true,
    // Never reached: every outbound request below is refused before it leaves the pod.
    upstreams: {
      billing: { url: "https://127.0.0.1:9", target: { path: "/tenants/{tenant}/**" } },
    },
  };
  // Every alert kind the flood can raise fires already for the first invented id, so the
  // alert series exist before the comparison starts and only the tenant labels can differ.
  config["anomaly"] = { threshold: 1, probeTargets: 1, window: "60s" };
  config["telemetry"] = { logs: { level: "warn" } };
  orders = await mesh.sidecar(config);
  acme = await mesh.client("acme", "web", "orders");
  const dir = join(mesh.pki.dir, "acme");
  const [caCert, caKey, key] = await Promise.all(
    ["ca.crt", "ca.key", "web.key"].map((f) => readFile(join(dir, f), "utf8")),
  );
  for (let i = 0; i < INVENTED_PEERS; i++) {
    const service = `t-${String(9000 + i)}`;
    const leaf = await issueLeaf(
      { certPem: caCert as string, keyPem: caKey as string },
      { uris: [`spiffe://${TRUST_DOMAIN}/tenant/acme/sa/${service}`], keyPem: key as string },
    );
    inventedPeers.push(
      await mesh.client("acme", "web", "orders", { cert: leaf.certPem, key: leaf.keyPem }),
    );
  }
});

/**
 * Every way a request can name a tenant, each with the invented id `id`; and a call to an
 * invented upstream and one from a calling service no config names.
 */
async function nameInventedTenant(id: string, n: number): Promise<void> {
  const inbound = orders.inbound;
  const outbound = orders.outbound;
  const answers = await Promise.all([
    // Target tenant in the path: cross_tenant_denied, target "unknown".
    send(acme, `${inbound}/tenants/${id}/x`),
    // Target tenant in the target header.
    send(acme, `${inbound}/orders`, { headers: { "x-target-tenant": id } }),
    // Asserted caller tenant that differs from the certificate.
    send(acme, `${inbound}/tenants/acme/x`, { headers: { "x-palisade-tenant": id } }),
    // The app asserting an unknown tenant on the outbound path (allowUnsignedTenant on).
    send(undefined, `${outbound}/tenants/${id}/x`, {
      headers: { host: "billing", "x-palisade-tenant": id },
    }),
    // A known tenant calling for an invented one's resources on the outbound path.
    send(undefined, `${outbound}/tenants/${id}/x`, {
      headers: { host: "billing", "x-palisade-tenant": "acme" },
    }),
    // The invented tenant as the TLS server name.
    handshake(`${id}.orders.${TRUST_DOMAIN}`).then(() => undefined),
    // An upstream no config names: `upstream="unknown"`.
    send(undefined, `${outbound}/tenants/acme/x`, {
      headers: { host: `${id}.upstream`, "x-palisade-tenant": "acme" },
    }),
    // A calling service no config names: `peer="unknown"`.
    send(inventedPeers[n % INVENTED_PEERS], `${inbound}/tenants/${id}/x`),
  ]);
  const statuses = answers.map((a) => a?.status);
  expect(statuses).toEqual([403, 403, 403, 403, 403, undefined, 404, 403]);
}

/** Opens a TLS connection with `servername` and resolves once the server has refused it. */
function handshake(servername: string): Promise<void> {
  const options = {
    host: "127.0.0.1",
    port: Number(new URL(orders.inbound).port),
    servername,
    // The server name is refused before any certificate is asked for.
    rejectUnauthorized: false,
  };
  return new Promise<void>((resolve, reject) => {
    const socket = tlsConnect(options, () => {
      socket.destroy();
      reject(new Error(`server accepted server name ${servername}`));
    });
    socket.once("error", () => resolve());
    // Idle deadline, generous: on a loaded machine a refusal can wait seconds for a core.
    socket.setTimeout(30_000, () => {
      socket.destroy();
      reject(new Error(`no answer to server name ${servername}`));
    });
  });
}

async function flood(ids: string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const n = next++;
      await nameInventedTenant(ids[n] as string, n);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

interface Exposition {
  /** `name{labels}` of every series, process and runtime metrics left out (they vary). */
  series: Set<string>;
  labelValues: Set<string>;
}

async function scrape(): Promise<Exposition> {
  const text = (await send(undefined, `${orders.admin}/metrics`)).text;
  const series = new Set<string>();
  const labelValues = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    for (const m of line.matchAll(/="((?:[^"\\]|\\.)*)"/g)) labelValues.add(m[1] as string);
    if (/^(process|nodejs)_/.test(line)) continue;
    series.add(line.slice(0, line.lastIndexOf(" ")));
  }
  return { series, labelValues };
}

const invented = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `t-${from + i}`);

describe("metric-cardinality-flood", () => {
  it("a hundred invented tenant ids add no series and no label values", async () => {
    await flood(invented(0, 2));
    const few = await scrape();
    expect(few.series.size).toBeGreaterThan(0);

    await flood(invented(2, FLOOD));
    const many = await scrape();

    const added = [...many.series].filter((s) => !few.series.has(s));
    expect(added.length, `new series:\n${added.slice(0, 10).join("\n")}`).toBe(0);
    expect(many.series.size).toBe(few.series.size);
    const leaked = [...many.labelValues].filter((v) => /t-\d+/.test(v));
    expect(leaked.length, `invented label values: ${leaked.slice(0, 10).join(", ")}`).toBe(0);

    // The flood was counted, under the bounded label.
    const text = (await send(undefined, `${orders.admin}/metrics`)).text;
    const denied =
      /palisade_cross_tenant_denied_total\{direction="inbound",tenant="acme",target="unknown",reason="cross_tenant_denied"[^}]*\} (\d+)/.exec(
        text,
      );
    expect(Number(denied?.[1])).toBeGreaterThanOrEqual(2 * (FLOOD + 2));
    const inventedPeerCount =
      /palisade_requests_total\{direction="inbound",tenant="acme",peer="unknown",upstream="",code="403"[^}]*\} (\d+)/.exec(
        text,
      );
    expect(Number(inventedPeerCount?.[1])).toBeGreaterThanOrEqual(FLOOD + 2);
    expect(text).toMatch(
      /palisade_requests_total\{direction="outbound",tenant="unknown",peer="orders",upstream="unknown",code="404"/,
    );
    const refusedNames =
      /palisade_tls_handshake_failures_total\{reason="no_sni_match"[^}]*\} (\d+)/.exec(text);
    expect(Number(refusedNames?.[1])).toBe(FLOOD + 2);
    // Nothing invented ever reached the app.
    expect(app.seen).toEqual([]);
  }, 120_000);
});
