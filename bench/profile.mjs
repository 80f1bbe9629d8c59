/**
 * Where each request's microseconds go. Default: the single-process Palisade row with
 * every feature on, and the single-process bare Node pair beside it, each started once
 * with `--cpu-prof` and driven at 1 and then at 32 connections; V8 writes the profiles at
 * exit (bench/results/profiles/, git-ignored; open them in Chrome DevTools). Only the
 * samples inside each measured load window count, so start-up, warmup and drain are left
 * out; busy time is charged to the buckets of lib/buckets.mjs and divided by the requests
 * served in the window. Writes bench/results/profile.{md,json}.
 *
 *   node bench/profile.mjs [--seconds 10] [--warmup 2] [--connections 1,32]
 *                          [--targets palisade,bare] [--layout 1p|2p] [--features on|off]
 *   node bench/profile.mjs --startup 1000     one sidecar's start with N tenants, to /readyz
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { addAttributions, attribute } from "./lib/buckets.mjs";
import { readProfile, selfTimes } from "./lib/cpuprofile.mjs";
import { mainThreadCpuSeconds, withCpu } from "./lib/cpu.mjs";
import { runLoad } from "./lib/load.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { profileMarkdown } from "./lib/profile-report.mjs";
import { profileStartup } from "./lib/profile-startup.mjs";
import { rowName } from "./lib/rows.mjs";
import { exitWith, ROOT, withSession } from "./lib/session.mjs";
import { errorNote } from "./lib/stats.mjs";
import { CLIENT_HEADERS, sanityCheck, startRow, provenFeatures } from "./lib/targets.mjs";
import { ROUTE } from "./lib/throughput.mjs";

const RESULTS = join(ROOT, "bench/results");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "1,32" },
    targets: { type: "string", default: "palisade,bare" },
    layout: { type: "string", default: "1p" },
    features: { type: "string", default: "on" },
    interval: { type: "string", default: "500" },
    size: { type: "string", default: "small" },
    top: { type: "string", default: "15" },
    out: { type: "string", default: "profile" },
    startup: { type: "string" },
  },
});
const log = (line) => process.stdout.write(`${line}\n`);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
/** Microseconds on CLOCK_MONOTONIC, the clock of a .cpuprofile's sample timestamps. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function main() {
  if (values.startup) return profileStartup(Number(values.startup), log);
  const machine = await describeMachine();
  const runs = [];
  await withSession("profile", async (ctx) => {
    for (const kind of values.targets.split(",")) {
      const row = { kind, layout: values.layout, features: values.features, workers: 1 };
      row.name = rowName(row);
      runs.push(...(await profileRow(row, ctx)));
    }
  });
  machine.loadAverageAtEnd = (await describeMachine()).loadAverageAtStart;
  const settings = { ...values, seconds: Number(values.seconds), warmup: Number(values.warmup) };
  const results = { machine, settings, runs };
  // A name lands in bench/results/; a path (e.g. /tmp/before) is taken as it is.
  const out = resolve(RESULTS, values.out);
  await writeFile(`${out}.json`, `${JSON.stringify(results, null, 2)}\n`);
  const md = profileMarkdown(results, Number(values.top));
  await writeFile(`${out}.md`, md);
  log(`\n${md}\nwrote ${out}.md and .json`);
  return 0;
}

/** One process (or pair) under `--cpu-prof`, one load window per connection count. */
async function profileRow(row, ctx) {
  const dir = join(RESULTS, "profiles", `${stamp}-${row.name}`);
  await mkdir(dir, { recursive: true });
  const nodeArgs = ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", values.interval];
  const started = await startRow(row, { ...ctx, nodeArgs });
  await sanityCheck(row.name, started.url);
  await provenFeatures(row, started);
  const windows = [];
  for (const connections of values.connections.split(",").map(Number)) {
    const spec = {
      url: `${started.url}${ROUTE(values.size)}`,
      headers: CLIENT_HEADERS,
      connections,
      threads: Math.min(2, connections),
      tmpDir: ctx.tmp,
    };
    if (Number(values.warmup) > 0) await runLoad({ ...spec, seconds: Number(values.warmup) });
    const pids = started.procs.map((p) => p.pid);
    const mainBefore = await mainThreadCpuSeconds(pids);
    const from = nowUs();
    const result = await withCpu({ proxies: pids }, () =>
      runLoad({ ...spec, seconds: Number(values.seconds) }),
    );
    const to = nowUs();
    const mainCpuUs = ((await mainThreadCpuSeconds(pids)) - mainBefore) * 1e6;
    windows.push({ connections, from, to, result, mainCpuUs });
    log(
      `${row.name} c${connections}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, process CPU ${result.cpuUsPerRequest.proxies?.toFixed(0)} µs/req${errorNote(result)}`,
    );
  }
  // SIGTERM: the processes drain and exit, and V8 writes each profile on exit.
  const exits = await Promise.all(started.procs.map((p) => p.stop(30_000)));
  if (exits.some((e) => e.signal === "SIGKILL"))
    throw new Error(`${row.name}: a process had to be killed, so its profile is missing`);
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length < started.procs.length)
    throw new Error(
      `${row.name}: ${files.length} profiles in ${dir}, expected ${started.procs.length}`,
    );
  const profiles = await Promise.all(files.map((f) => readProfile(join(dir, f))));
  return windows.map((w) => summarizeWindow(row, w, profiles, dir));
}

/**
 * A window's buckets in µs of CPU per request. Profile samples are wall-clock ticks of a
 * thread that may be waiting for a core on a busy machine, so busy sample time overstates
 * CPU; the shares of busy time are kept and applied to the main threads' CPU time from
 * /proc, which is what the profile samples.
 */
function summarizeWindow(row, { connections, from, to, result, mainCpuUs }, profiles, dir) {
  for (const p of profiles)
    if (from < p.startTime || to > p.endTime)
      throw new Error(
        `${row.name}: load window ${from}–${to} µs is outside a profile (${p.startTime}–${p.endTime}): ` +
          "the harness and the profile do not share a clock",
      );
  const window = { from, to };
  const total = addAttributions(profiles.map((p) => attribute(p, window)));
  const requests = result.requests;
  const busyUs = total.busyUs || 1;
  const mainCpuUsPerRequest = mainCpuUs / requests;
  const buckets = Object.fromEntries(
    Object.entries(total.buckets).map(([name, us]) => [
      name,
      { usPerRequest: (us / busyUs) * mainCpuUsPerRequest, share: us / busyUs },
    ]),
  );
  const top = profiles
    .flatMap((p) => selfTimes(p, window).functions.slice(0, 40))
    .map((f) => ({
      name: f.name,
      where: f.where,
      usPerRequest: ((f.selfMs * 1000) / busyUs) * mainCpuUsPerRequest,
      share: (f.selfMs * 1000) / busyUs,
    }));
  return {
    row: row.name,
    connections,
    profiles: dir.slice(ROOT.length + 1),
    requests,
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    processCpuUsPerRequest: result.cpuUsPerRequest.proxies,
    mainCpuUsPerRequest,
    sampledBusyUsPerRequest: total.busyUs / requests,
    idleShare: total.idleUs / (total.idleUs + total.busyUs || 1),
    buckets,
    top: top.sort((a, b) => b.share - a.share).slice(0, 40),
  };
}

exitWith("profile", main);
