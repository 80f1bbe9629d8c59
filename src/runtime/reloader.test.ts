/**
 * The reloader alone, over real config files: subscribers run in the one documented order
 * whatever order they registered in; one that cannot prepare refuses the reload before
 * anything changed; one that throws while applying rolls every step back, so no part is
 * left on a generation the others do not follow. Every failure is logged and counted.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { admitConfig } from "../config/admit.js";
import { loadConfigFile } from "../config/load.js";
import { createLogs } from "../telemetry/logs.js";
import { Metrics } from "../telemetry/metrics.js";
import { Reloader } from "./reloader.js";
import { SUBSCRIBER_ORDER, type GenerationChange, type SubscriberName } from "./subscribers.js";

interface Line {
  msg: string;
  [key: string]: unknown;
}

let dir: string;
let file: string;
let lines: Line[];
let metrics: Metrics;

const text = (context: string) =>
  `service: orders\ntrustDomain: mesh.local\ntenants: {}\ncontext: { ttl: ${context} }\n`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-reloader-"));
  file = join(dir, "palisade.yaml");
  await writeFile(file, text("5m"));
  lines = [];
  metrics = new Metrics("orders");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reloader(): Promise<Reloader> {
  const { generation } = await admitConfig(await loadConfigFile(file), { id: 1, now: new Date() });
  const logs = createLogs(
    { level: "info", destination: "stdout", baseDir: dir, service: "orders" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  );
  return new Reloader(generation, { log: logs.event, metrics, now: Date.now, settleMs: 10 });
}

async function reloads(result: "success" | "failure"): Promise<number> {
  const metric = await metrics.registry.getSingleMetric("palisade_config_reloads_total")?.get();
  return metric?.values.find((v) => v.labels["result"] === result)?.value ?? 0;
}

/** Records every call as `name:generation id`. */
function record(calls: string[], name: string) {
  return ({ next }: GenerationChange) => void calls.push(`${name}:${next.id}`);
}

describe("Reloader", () => {
  it("notifies subscribers in SUBSCRIBER_ORDER, whatever order they registered in", async () => {
    const r = await reloader();
    const calls: string[] = [];
    const named = SUBSCRIBER_ORDER.filter((n) => n !== "watcher" && n !== "revocation");
    r.subscribe("revocation", { apply: () => ({ cut: { idle: 3, busy: 0 } }) });
    for (const name of [...named].reverse()) r.subscribe(name, { apply: record(calls, name) });
    await writeFile(file, text("6m"));
    expect(await r.reload("test")).toBe(true);
    expect(calls).toEqual(named.map((n) => `${n}:2`));
    expect(lines.find((l) => l.msg === "config reloaded")).toMatchObject({
      generation: 2,
      cut: { idle: 3, busy: 0 },
    });
    expect(await reloads("success")).toBe(1);
  });

  it("refuses the reload when a subscriber cannot prepare: nothing applied, nothing swapped", async () => {
    const r = await reloader();
    const calls: string[] = [];
    r.subscribe("logs", { apply: record(calls, "logs") });
    r.subscribe("listeners", {
      prepare: () => {
        throw new Error("key does not match certificate");
      },
      apply: record(calls, "listeners"),
    });
    await writeFile(file, text("6m"));
    expect(await r.reload("test")).toBe(false);
    expect(calls).toEqual([]);
    expect(r.current.id).toBe(1);
    expect(r.current.config.context.ttl).toBe(300_000);
    expect(await reloads("failure")).toBe(1);
    expect(lines.find((l) => l.msg.startsWith("config reload refused"))).toMatchObject({
      subscriber: "listeners",
      err: "key does not match certificate",
    });
  });

  it("rolls every step back when one throws while applying, and never reuses its id", async () => {
    const r = await reloader();
    const calls: string[] = [];
    const names: SubscriberName[] = ["logs", "listeners", "metrics", "cache", "pools"];
    for (const name of names) r.subscribe(name, { apply: record(calls, name) });
    let failing = true;
    r.subscribe("anomaly", {
      apply: (change) => {
        calls.push(`anomaly:${change.next.id}`);
        if (failing && change.next.id === 2) throw new Error("alert receiver refused");
      },
    });
    const later: string[] = [];
    r.subscribe("revocation", { apply: record(later, "revocation") });

    await writeFile(file, text("6m"));
    expect(await r.reload("test")).toBe(false);
    expect(r.current.id).toBe(1);
    expect(r.current.config.context.ttl).toBe(300_000);
    // Forward to generation 2 up to the failure, then back to 1 from the failed step down.
    expect(calls).toEqual([
      ...names.map((n) => `${n}:2`),
      "anomaly:2",
      "anomaly:1",
      ...[...names].reverse().map((n) => `${n}:1`),
    ]);
    expect(later).toEqual([]);
    expect(await reloads("failure")).toBe(1);
    expect(await reloads("success")).toBe(0);
    expect(lines.find((l) => l.msg.includes("rolled back"))).toMatchObject({
      subscriber: "anomaly",
      generation: 1,
      err: "alert receiver refused",
    });

    // The same file, once the part recovers, applies under a fresh id.
    failing = false;
    expect(await r.reload("test")).toBe(true);
    expect(r.current.id).toBe(3);
    expect(r.current.config.context.ttl).toBe(360_000);
    expect(later).toEqual(["revocation:3"]);
  });

  it("an unchanged file notifies nobody", async () => {
    const r = await reloader();
    const calls: string[] = [];
    r.subscribe("cache", { apply: record(calls, "cache") });
    expect(await r.reload("test")).toBe(true);
    expect(calls).toEqual([]);
    expect(lines.some((l) => l.msg === "config reloaded, nothing changed")).toBe(true);
  });

  it("refuses a second subscriber under one name", async () => {
    const r = await reloader();
    r.subscribe("cache", { apply: () => undefined });
    expect(() => r.subscribe("cache", { apply: () => undefined })).toThrow(/twice/);
  });
});
