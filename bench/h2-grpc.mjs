/**
 * The HTTP/1.1, HTTP/2 and gRPC rows side by side: Palisade's sidecar pair against the bare
 * Node pair of the same protocol (bench/servers/bare-proxy.mjs, bare-h2-proxy.mjs), in one
 * run, targets taking turns within every round so background load hits both alike. Writes
 * bench/results/h2-grpc.{md,json}. See bench/README.md.
 *
 *   node bench/h2-grpc.mjs [--seconds 5] [--warmup 1] [--rounds 2] [--concurrency 32]
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startApp } from "./lib/app.mjs";
import { withCpu } from "./lib/cpu.mjs";
import { h2Head, runGrpcLoad, runH2Load } from "./lib/h2-load.mjs";
import { AUTHORITY, H2_HEADERS, H2_TARGETS, startH2App } from "./lib/h2-targets.mjs";
import { runLoad } from "./lib/load.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { makePki } from "./lib/pki.mjs";
import { guardChildren, stopAll } from "./lib/processes.mjs";
import { h2GrpcMarkdown } from "./lib/h2-report.mjs";
import { median } from "./lib/stats.mjs";
import { CLIENT_HEADERS, sanityCheck, TARGETS, TENANT } from "./lib/targets.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "2" },
    concurrency: { type: "string", default: "32" },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const log = (line) => process.stdout.write(`${line}\n`);
const PATH = `/tenants/${TENANT}/small`;

/** How each protocol's load is made against a started target, for `secs` seconds. */
const PROTOCOLS = {
  h1: {
    targets: TARGETS,
    load: (t, ctx, secs) =>
      runLoad({
        url: `${t.url}${PATH}`,
        headers: CLIENT_HEADERS,
        connections: concurrency,
        threads: 2,
        seconds: secs,
        tmpDir: ctx.tmp,
      }),
  },
  h2: {
    targets: H2_TARGETS,
    load: (t, _ctx, secs) =>
      runH2Load({
        url: t.url,
        path: PATH,
        headers: { ":authority": AUTHORITY, ...H2_HEADERS },
        sessions: 2,
        concurrency,
        seconds: secs,
      }),
  },
  grpc: {
    targets: H2_TARGETS,
    load: (t, _ctx, secs) =>
      runGrpcLoad({
        url: t.url,
        authority: AUTHORITY,
        metadata: H2_HEADERS,
        concurrency,
        seconds: secs,
      }),
  },
};

/** One short run per protocol and target before measuring: each must answer without errors. */
async function sanity(protocol, name, target, ctx) {
  if (protocol === "h1") return sanityCheck(name, target.url);
  if (protocol === "h2" && name === "palisade") {
    const headers = { ":authority": AUTHORITY, ...H2_HEADERS };
    const head = await h2Head({ url: target.url, path: PATH, headers });
    if (head["x-seen-tenant"] !== TENANT)
      throw new Error(
        `palisade h2: the app saw tenant ${head["x-seen-tenant"]}, expected ${TENANT}`,
      );
  }
  const result = await PROTOCOLS[protocol].load(target, ctx, 0.3);
  if (result.requests === 0 || result.errors > 0)
    throw new Error(`${name} ${protocol}: ${result.requests} answered, ${result.errors} errors`);
}

async function main() {
  if (!existsSync(join(ROOT, "dist/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
  guardChildren();
  const machine = await describeMachine();
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverageAtStart}`,
  );
  const tmp = await mkdtemp(join(tmpdir(), "palisade-bench-h2-"));
  const samples = [];
  try {
    const pkiDir = await makePki(join(tmp, "pki"), [TENANT], ["web", "orders"]);
    const [app, h2App] = await Promise.all([startApp(), startH2App()]);
    const ctx = { tmp, pkiDir, appPort: app.port, h2AppPort: h2App.port };
    const started = {};
    for (const [protocol, { targets }] of Object.entries(PROTOCOLS))
      for (const name of ["bare", "palisade"]) {
        const key = `${targets === TARGETS ? "h1" : "h2"}|${name}`;
        started[key] ??= await targets[name].start(ctx);
        await sanity(protocol, name, started[key], ctx);
        log(`${protocol} ${name}: ready`);
      }
    for (let round = 1; round <= rounds; round++)
      for (const [protocol, { targets, load }] of Object.entries(PROTOCOLS))
        for (const name of ["bare", "palisade"]) {
          const target = started[`${targets === TARGETS ? "h1" : "h2"}|${name}`];
          const appPid = targets === TARGETS ? app.proc.pid : h2App.proc.pid;
          if (warmup > 0) await load(target, ctx, warmup);
          const result = await withCpu(
            { proxies: target.procs.map((p) => p.pid), app: [appPid] },
            () => load(target, ctx, seconds),
          );
          samples.push({ protocol, target: name, round, ...result });
          log(
            `  round ${round} ${protocol} ${name}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
              `p99 ${result.p99Ms.toFixed(2)} ms, proxy CPU ${Math.round(result.cpuUsPerRequest.proxies ?? 0)} µs/req` +
              (errorCount(result) ? `, ${errorCount(result)} errors` : ""),
          );
        }
    await Promise.all(Object.values(started).map((t) => t.stop()));
    await Promise.all([app.proc.stop(), h2App.proc.stop()]);
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const results = {
    machine,
    settings: { seconds, warmup, rounds, concurrency },
    rows: rowsOf(samples),
    samples,
  };
  await writeFile(
    join(ROOT, "bench/results/h2-grpc.json"),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  const markdown = h2GrpcMarkdown(results);
  await writeFile(join(ROOT, "bench/results/h2-grpc.md"), markdown);
  log(`\n${markdown}`);
  return 0;
}

/** wrk and autocannon count errors by kind; the h2 loops count them in one number. */
function errorCount({ errors }) {
  return typeof errors === "number" ? errors : Object.values(errors).reduce((a, b) => a + b, 0);
}

/** Per protocol and target, the round with the median req/s; then Palisade ÷ bare. */
function rowsOf(samples) {
  const rows = [];
  for (const protocol of Object.keys(PROTOCOLS)) {
    const pick = (target) => {
      const runs = samples.filter((s) => s.protocol === protocol && s.target === target);
      if (runs.length === 0) return undefined;
      const mid = median(runs.map((r) => r.rps));
      const chosen = [...runs].sort((a, b) => Math.abs(a.rps - mid) - Math.abs(b.rps - mid))[0];
      return { ...chosen, roundsRps: runs.map((r) => Math.round(r.rps)) };
    };
    const bare = pick("bare");
    const palisade = pick("palisade");
    if (!bare || !palisade) continue;
    rows.push({
      protocol,
      bare,
      palisade,
      rpsRatio: palisade.rps / bare.rps,
      cpuRatio: palisade.cpuUsPerRequest.proxies / bare.cpuUsPerRequest.proxies,
    });
  }
  return rows;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
