/**
 * `npm run bench`: Palisade side by side with the physical limit (direct), nginx and a
 * bare Node.js proxy pair, on one loopback mesh in one run; then Palisade's memory and
 * startup with 10/100/1000 tenants, and its cache hit path against its miss path.
 * Prints the tables and writes bench/results/latest.{md,json}. See bench/README.md.
 *
 *   node bench/run.mjs [--seconds 10] [--warmup 2] [--rounds 1] [--quick]
 *                      [--only throughput,cache,memory] [--targets direct,palisade,nginx,bare]
 *                      [--tenants 10,100,1000] [--out latest] [--fresh-pki]
 *   node bench/run.mjs --render bench/results/latest.json   re-render the .md (and ratios) of a run
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startApp } from "./lib/app.mjs";
import { runCache } from "./lib/cache.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { runMemory } from "./lib/memory.mjs";
import { cachedPki, makePki } from "./lib/pki.mjs";
import { guardChildren, stopAll } from "./lib/processes.mjs";
import { cacheTable, memoryTable, throughputTable, writeResults } from "./lib/report.mjs";
import { TARGETS } from "./lib/targets.mjs";
import { runThroughput, withRatios } from "./lib/throughput.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const RESULTS = join(ROOT, "bench/results");

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "1" },
    quick: { type: "boolean", default: false },
    only: { type: "string", default: "throughput,cache,memory" },
    targets: { type: "string", default: "direct,palisade,nginx,bare" },
    tenants: { type: "string", default: "10,100,1000" },
    out: { type: "string", default: "latest" },
    "fresh-pki": { type: "boolean", default: false },
    render: { type: "string" },
  },
});
const seconds = values.quick ? 3 : Number(values.seconds);
const warmup = values.quick ? 1 : Number(values.warmup);
const rounds = values.quick ? 1 : Number(values.rounds);
const only = new Set(values.only.split(","));
const targets = values.targets.split(",").filter((t) => TARGETS[t]);
const tenantCounts = values.tenants.split(",").map(Number);
const log = (line) => process.stdout.write(`${line}\n`);

/** Rewrites NAME.md (and NAME.json's ratios) from a stored run, without measuring anything. */
async function render(file) {
  const results = JSON.parse(await readFile(file, "utf8"));
  if (results.throughput) results.throughput.rows = withRatios(results.throughput.rows);
  const out = file
    .replace(/\.json$/, "")
    .split("/")
    .pop();
  process.stdout.write(await writeResults(RESULTS, out, results));
  return 0;
}

async function main() {
  if (values.render) return render(values.render);
  if (!existsSync(join(ROOT, "dist/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
  guardChildren();
  const machine = await describeMachine();
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, nginx ${machine.nginx}, load: ${machine.loadTool}`,
  );
  log(`note: the load generator, both proxies and the app all share these ${machine.cores} cores`);
  if (machine.loadAverageAtStart[0] > machine.cores / 2) {
    log(
      `warning: load average ${machine.loadAverageAtStart[0]} before starting: something else is using the CPU, ` +
        "numbers will be noisy (rows take turns, so ratios suffer less than absolute req/s)",
    );
  }
  const loadAverages = { start: machine.loadAverageAtStart };
  const mark = (phase) => (loadAverages[phase] = loadavg().map((x) => Math.round(x * 100) / 100));
  const results = {
    machine,
    settings: {
      seconds,
      warmup,
      rounds,
      tenantCounts,
      targets: Object.fromEntries(targets.map((t) => [t, TARGETS[t].describe])),
    },
    notes: [
      "nginx: two instances (one per hop), `worker_processes 1` each — one worker per hop like one Node event loop per sidecar; `auto` would give each instance 2 workers on this box and oversubscribe the 2 cores already shared with wrk and the app.",
      "Palisade: `node dist/cli.js run -c FILE` per sidecar, logs at warn, access log off, no OTLP exporter; the client sends `Host: orders` and `x-palisade-tenant: acme` (caller has `allowUnsignedTenant: true`).",
      "bare: bench/servers/bare-proxy.mjs, node:http(s) + undici Pool, same `dispatcher.request` + `pipeline` as Palisade's forward step, no checks.",
    ],
  };
  const tmp = await mkdtemp(join(tmpdir(), "palisade-bench-"));
  try {
    const bigPki = only.has("memory")
      ? await cachedPki(Math.max(...tenantCounts), ["orders"], { fresh: values["fresh-pki"], log })
      : undefined;
    const pkiDir = await makePki(join(tmp, "pki"), ["acme"], ["web", "orders"]);
    const app = await startApp();
    const ctx = { tmp, pkiDir, appPort: app.port, appPid: app.proc.pid };

    if (only.has("throughput")) {
      log(`\n== request path (${warmup} s warmup + ${seconds} s per cell)`);
      results.throughput = await runThroughput({ targets, ctx, seconds, warmup, rounds, log });
      mark("afterThroughput");
    }
    if (only.has("cache")) {
      log("\n== cache hit vs miss (Palisade pair, callee inbound cache)");
      try {
        results.cache = await runCache({ ctx, seconds, warmup, log });
      } catch (err) {
        results.cache = { error: err.message };
        log(`  FAILED: ${err.message}`);
      }
      mark("afterCache");
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
    await app.proc.stop();
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }

  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  machine.loadAverages = loadAverages;
  await writeResults(RESULTS, values.out, results);
  log("");
  if (results.throughput) log(`${throughputTable(results.throughput.rows)}\n`);
  for (const f of results.throughput?.failures ?? []) log(`${f.target}: ${f.error}`);
  if (results.cache?.rows) log(`cache:\n${cacheTable(results.cache)}\n`);
  if (results.memory) log(`memory and startup:\n${memoryTable(results.memory)}\n`);
  log(`wrote ${join("bench/results", `${values.out}.md`)} and .json`);
  const failed =
    (results.throughput?.failures ?? []).some((f) => !f.skipped) || results.cache?.error;
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
