/**
 * `npm run bench`: Palisade side by side with the physical limit (direct), the bare Node.js
 * pair and nginx, in the single-process layout users run (one sidecar whose outbound calls
 * its own inbound) and the two-process one, in interleaved rounds; then the cache hit path
 * and Palisade's memory and startup with 10/100/1000 tenants. Prints the tables and writes
 * bench/results/latest.{md,json}. See bench/README.md.
 *
 *   node bench/run.mjs [--seconds 10] [--warmup 2] [--rounds 3] [--quick]
 *                      [--only throughput,cache,memory] [--targets direct,palisade,bare,nginx]
 *                      [--layouts 1p,2p] [--features on|off|on,off] [--concurrency N]
 *                      [--sizes small,large] [--tenants 10,100,1000] [--out latest] [--fresh-pki]
 *   node bench/run.mjs --render bench/results/latest.json   re-render the .md (and goals) of a run
 */
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { summarize } from "./lib/aggregate.mjs";
import { runCache } from "./lib/cache.mjs";
import { FEATURE_SETS } from "./lib/features.mjs";
import { evaluateGoals } from "./lib/goals.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { runMemory } from "./lib/memory.mjs";
import { cachedPki } from "./lib/pki.mjs";
import { cacheTable, memoryTable, writeResults } from "./lib/report.mjs";
import { goalsTable, throughputTables } from "./lib/report-throughput.mjs";
import { describeRow, KINDS, LAYOUTS, planRows } from "./lib/rows.mjs";
import { exitWith, ROOT, withSession } from "./lib/session.mjs";
import { runThroughput } from "./lib/throughput.mjs";

const RESULTS = join(ROOT, "bench/results");

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    quick: { type: "boolean", default: false },
    only: { type: "string", default: "throughput,cache,memory" },
    targets: { type: "string", default: KINDS.join(",") },
    layouts: { type: "string", default: LAYOUTS.join(",") },
    features: { type: "string", default: "on" },
    concurrency: { type: "string", default: "1" },
    sizes: { type: "string", default: "small" },
    tenants: { type: "string", default: "10,100,1000" },
    out: { type: "string", default: "latest" },
    "fresh-pki": { type: "boolean", default: false },
    render: { type: "string" },
  },
});
const seconds = values.quick ? 3 : Number(values.seconds);
const warmup = values.quick ? 1 : Number(values.warmup);
const rounds = values.quick ? 1 : Number(values.rounds);
const concurrency = Number(values.concurrency);
const only = new Set(values.only.split(","));
const list = (text, allowed, what) => {
  const items = text.split(",").filter(Boolean);
  const wrong = items.filter((x) => !allowed.includes(x));
  if (wrong.length)
    throw new Error(`--${what}: unknown ${wrong.join(", ")} (one of ${allowed.join(", ")})`);
  return items;
};
const rows = planRows({
  kinds: list(values.targets, KINDS, "targets"),
  layouts: list(values.layouts, LAYOUTS, "layouts"),
  features: list(values.features, FEATURE_SETS, "features"),
  concurrency,
});
const sizes = list(values.sizes, ["small", "large"], "sizes");
const tenantCounts = values.tenants.split(",").map(Number);
const log = (line) => process.stdout.write(`${line}\n`);
const workerCounts = [1, ...(concurrency > 1 ? [concurrency] : [])];

/** Rewrites NAME.md (and NAME.json's cells and goals) from a stored run, measuring nothing. */
async function render(file) {
  const results = JSON.parse(await readFile(file, "utf8"));
  if (results.throughput) {
    if (!results.throughput.samples)
      throw new Error(`${file} has no per-round samples: it was written by an older harness`);
    results.throughput.cells = summarize(results.throughput.samples);
    results.throughput.goals = evaluateGoals(
      results.throughput.cells,
      results.settings.workerCounts,
      results.throughput.failures,
    );
  }
  const out = file
    .replace(/\.json$/, "")
    .split("/")
    .pop();
  process.stdout.write(await writeResults(RESULTS, out, results));
  return 0;
}

const NOTES = [
  "Single-process layout (1p): one process does both hops, as a sidecar does when its app calls a service of the same pod's kind, and as users deploy it: Palisade `service: orders` with upstream `orders` → its own inbound over mTLS (the tenants' certificates are `orders` SVIDs); bare: one process running both servers of bench/servers/bare-proxy.mjs; nginx: one instance with both server blocks. Two-process layout (2p): one process per hop.",
  "Palisade rows run every feature the issue's goals name: the access log (`telemetry.logs.access: true`, level info) to a file in the temp dir, metrics (always on), an OTLP exporter at `sampleRatio: 0` pointed at a local sink that counts POSTs (configured but unsampled), the inbound cache on the route, anomaly detection (always on). `-lean` rows (`--features off`): logs at warn, no access log, no exporter, no cache.",
  "Every row serves `/tenants/acme/nostore/{size}`, to which the app answers `cache-control: no-store`: with the cache on, the cache step (lookup, cacheability) runs on every request and stores nothing, so the table shows the step's cost without a hit's saving. Cache hits are measured apart (section below).",
  "The client sends `Host: orders` and `x-palisade-tenant: acme`; the outbound has `allowUnsignedTenant: true` and every request is a same-tenant call.",
  "nginx: `worker_processes` = the row's workers (1 unless `-wN`), `keepalive 64` pools on both hops, access log off, TLS 1.3 with a client certificate on the mTLS hop.",
  "bare: node:http(s) + undici Pool, `dispatcher.request` then `pipe` with error and close handling, as Palisade's forward step, no checks (not `stream.pipeline`, whose per-call AbortSignal and DOMException cost 1.5–2.5× the CPU per request in Node 20: not a cost of proxying); `-wN`: node:cluster with N workers.",
];

async function main() {
  if (values.render) return render(values.render);
  const machine = await describeMachine();
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, nginx ${machine.nginx}, load: ${machine.loadTool}`,
  );
  if (machine.loadAverageAtStart[0] > machine.cores / 2)
    log(
      `warning: load average ${machine.loadAverageAtStart[0]} before starting: something else is using the CPU; ` +
        "read the ratios and their spread, not absolute figures",
    );
  const results = {
    machine,
    settings: {
      seconds,
      warmup,
      rounds,
      sizes,
      tenantCounts,
      workerCounts,
      rows: Object.fromEntries(rows.map((r) => [r.name, describeRow(r)])),
    },
    notes: NOTES,
  };
  const bigPki = only.has("memory")
    ? await cachedPki(Math.max(...tenantCounts), ["orders"], { fresh: values["fresh-pki"], log })
    : undefined;
  await withSession("bench", async (ctx) => {
    if (only.has("throughput")) {
      log(`\n== request path (${warmup} s warmup + ${seconds} s per cell, ${rounds} rounds)`);
      const throughput = await runThroughput({ rows, ctx, sizes, seconds, warmup, rounds, log });
      throughput.goals = evaluateGoals(throughput.cells, workerCounts, throughput.failures);
      results.throughput = throughput;
    }
    if (only.has("cache")) {
      log("\n== cache hit vs miss (palisade-1p, every feature on)");
      try {
        results.cache = await runCache({ ctx, sizes, seconds, warmup, log });
      } catch (err) {
        results.cache = { error: err.message };
        log(`  FAILED: ${err.message}`);
      }
    }
    if (only.has("memory")) {
      log(`\n== memory and startup (${tenantCounts.join(", ")} tenants)`);
      results.memory = await runMemory({
        counts: tenantCounts,
        pki: bigPki,
        ctx,
        seconds,
        warmup,
        log,
      });
    }
  });
  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  await writeResults(RESULTS, values.out, results);
  printSummary(results);
  const failed =
    (results.throughput?.failures ?? []).some((f) => !f.skipped) ||
    results.cache?.error ||
    (results.memory?.results ?? []).some((m) => m.error);
  return failed ? 1 : 0;
}

function printSummary(results) {
  log("");
  if (results.throughput) {
    log(throughputTables(results.throughput.cells));
    log(`goals:\n${goalsTable(results.throughput.goals)}\n`);
    for (const f of results.throughput.failures) log(`${f.target}: ${f.error}`);
  }
  if (results.cache?.rows) log(`cache:\n${cacheTable(results.cache)}\n`);
  if (results.memory) log(`memory and startup:\n${memoryTable(results.memory)}\n`);
  log(`wrote ${join("bench/results", `${values.out}.md`)} and .json`);
}

exitWith("bench", main);
