/**
 * More than one event loop: each proxy with 1 and with N node:cluster workers
 * (servers/cluster-launch.mjs), nginx with 1 and N `worker_processes`, targets taking turns
 * within every round so background load hits them alike. Writes
 * bench/results/cluster.{md,json}. See docs/concurrency.md for what the figures decided.
 *
 *   node bench/cluster.mjs [--workers 2] [--seconds 5] [--warmup 2] [--rounds 3] [--policy rr|none]
 *
 * Layouts: `palisade` is the single-process mesh (one sidecar whose outbound upstream is its
 * own inbound, over mTLS), `palisade-pair` the two-process one (bench/lib/palisade.mjs);
 * `bare` and `nginx` are the usual pairs (bench/lib/targets.mjs).
 * Besides requests/s and latency, every row has the proxy processes' CPU µs and context
 * switches per request (all threads, primary included), which explain the rest.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { startApp } from "./lib/app.mjs";
import { withCpu } from "./lib/cpu.mjs";
import { runLoad } from "./lib/load.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { inboundConfig, nginxAvailable, outboundConfig, startNginx } from "./lib/nginx.mjs";
import { startPalisadePair, TARGET_RULE } from "./lib/palisade.mjs";
import { makePki, pkiPaths, TRUST_DOMAIN } from "./lib/pki.mjs";
import { freePorts } from "./lib/ports.mjs";
import {
  guardChildren,
  startProcess,
  stopAll,
  waitForHttp,
  waitForPort,
} from "./lib/processes.mjs";
import { median } from "./lib/stats.mjs";
import { CLIENT_HEADERS, sanityCheck, TENANT } from "./lib/targets.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli.js");
const BARE = join(ROOT, "bench/servers/bare-proxy.mjs");
const LAUNCH = join(ROOT, "bench/servers/cluster-launch.mjs");
const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "2" },
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    policy: { type: "string", default: "rr" },
  },
});
const N = Number(values.workers);
if (!Number.isInteger(N) || N < 2 || !["rr", "none"].includes(values.policy)) {
  process.stderr.write("usage: node bench/cluster.mjs [--workers N≥2] [--policy rr|none] …\n");
  process.exit(2);
}
const log = (line) => process.stdout.write(`${line}\n`);

/** `node SCRIPT ARGS`, or the same under the cluster launcher when `workers` > 1. */
function nodeCommand(workers, script, args) {
  const argv = workers > 1 ? [LAUNCH, String(workers), values.policy, script] : [script];
  return [process.execPath, [...argv, ...args]];
}

async function palisade(ctx, workers) {
  const [inbound, outbound, admin] = await freePorts(3);
  const file = join(ctx.tmp, `palisade-${workers}.yaml`);
  const config = {
    service: "orders",
    trustDomain: TRUST_DOMAIN,
    inbound: {
      listen: `127.0.0.1:${inbound}`,
      app: `http://127.0.0.1:${ctx.appPort}`,
      target: TARGET_RULE,
    },
    outbound: {
      listen: `127.0.0.1:${outbound}`,
      allowUnsignedTenant: true,
      upstreams: { orders: { url: `https://127.0.0.1:${inbound}`, target: TARGET_RULE } },
    },
    admin: { listen: `127.0.0.1:${admin}` },
    stats: { listen: "127.0.0.1:0" },
    tenants: { [TENANT]: pkiPaths(ctx.pkiDir, TENANT, "orders") },
    telemetry: { logs: { level: "warn", access: false } },
  };
  await writeFile(file, stringify(config));
  const proc = startProcess(
    `palisade-${workers}`,
    ...nodeCommand(workers, CLI, ["run", "-c", file]),
  );
  await waitForHttp(`http://127.0.0.1:${admin}/readyz`, {
    proc,
    timeoutMs: 60_000,
    intervalMs: 20,
  });
  return { url: `http://127.0.0.1:${outbound}`, groups: [proc.pid] };
}

/** The two-process layout, each sidecar with `workers` workers: the launcher goes before the CLI. */
async function palisadePair(ctx, workers) {
  const pair = await startPalisadePair(join(ctx.tmp, `pair-${workers}`), {
    pkiDir: ctx.pkiDir,
    tenants: [TENANT],
    appPort: ctx.appPort,
    nodeArgs: workers > 1 ? [LAUNCH, String(workers), values.policy] : [],
  });
  return {
    url: `http://127.0.0.1:${pair.caller.ports.outbound}`,
    groups: [pair.caller.proc.pid, pair.callee.proc.pid],
  };
}

async function bare(ctx, workers) {
  const [outPort, inPort] = await freePorts(2);
  const side = (mode, port, upstream, service, extra = {}) =>
    JSON.stringify({ mode, port, upstream, ...pkiPaths(ctx.pkiDir, TENANT, service), ...extra });
  const inbound = startProcess(
    `bare-in-${workers}`,
    ...nodeCommand(workers, BARE, [
      side("inbound", inPort, `http://127.0.0.1:${ctx.appPort}`, "orders"),
    ]),
  );
  await waitForPort(inPort, { proc: inbound });
  const servername = `${TENANT}.orders.${TRUST_DOMAIN}`;
  const outbound = startProcess(
    `bare-out-${workers}`,
    ...nodeCommand(workers, BARE, [
      side("outbound", outPort, `https://127.0.0.1:${inPort}`, "web", { servername }),
    ]),
  );
  await waitForPort(outPort, { proc: outbound });
  return { url: `http://127.0.0.1:${outPort}`, groups: [inbound.pid, outbound.pid] };
}

async function nginx(ctx, workers) {
  const [outPort, inPort] = await freePorts(2);
  const withWorkers = (conf) => conf.replace("worker_processes 1;", `worker_processes ${workers};`);
  const dir = (side) => join(ctx.tmp, `nginx-${side}-${workers}`);
  const inbound = await startNginx(
    `nginx-in-${workers}`,
    dir("in"),
    withWorkers(
      inboundConfig(dir("in"), {
        port: inPort,
        appPort: ctx.appPort,
        ...pkiPaths(ctx.pkiDir, TENANT, "orders"),
      }),
    ),
    inPort,
  );
  const outbound = await startNginx(
    `nginx-out-${workers}`,
    dir("out"),
    withWorkers(
      outboundConfig(dir("out"), {
        port: outPort,
        upstreamPort: inPort,
        ...pkiPaths(ctx.pkiDir, TENANT, "web"),
        sslName: `${TENANT}.orders.${TRUST_DOMAIN}`,
      }),
    ),
    outPort,
  );
  return { url: `http://127.0.0.1:${outPort}`, groups: [inbound.pid, outbound.pid] };
}

/** Voluntary and involuntary context switches of every thread in the process groups. */
async function contextSwitches(groups) {
  const wanted = new Set(groups);
  let total = 0;
  for (const pid of (await readdir("/proc")).filter((e) => /^\d+$/.test(e))) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (!wanted.has(Number(fields[2]))) continue;
    for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
      const status = await readFile(`/proc/${pid}/task/${tid}/status`, "utf8").catch(() => "");
      for (const m of status.matchAll(/ctxt_switches:\s+(\d+)/g)) total += Number(m[1]);
    }
  }
  return total;
}

async function measure(ctx, target, connections, seconds = Number(values.seconds)) {
  const before = await contextSwitches(target.groups);
  const r = await withCpu({ proxy: target.groups }, () =>
    runLoad({
      url: `${target.url}/tenants/${TENANT}/small`,
      headers: CLIENT_HEADERS,
      connections,
      threads: connections === 1 ? 1 : 2,
      seconds,
      tmpDir: ctx.tmp,
    }),
  );
  const switches = (await contextSwitches(target.groups)) - before;
  const e = r.errors;
  return {
    rps: r.rps,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    cpuUs: r.cpuUsPerRequest.proxy,
    switches: r.requests > 0 ? switches / r.requests : undefined,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
  };
}

const KINDS = {
  palisade,
  "palisade-pair": palisadePair,
  bare,
  ...(nginxAvailable() ? { nginx } : {}),
};
const FIELDS = ["rps", "p50Ms", "p99Ms", "cpuUs", "switches"];

function markdown(machine, rows) {
  const fmt = (x, d) => (x === undefined ? "–" : x.toFixed(d));
  const lines = [
    `# ${N} workers against 1`,
    "",
    `${machine.date}, ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load average ${machine.loadAverageAtStart.join(" / ")} at start and ${machine.loadAverageAtEnd.join(" / ")} at the end; ${values.rounds} interleaved rounds of ${values.seconds} s after ${values.warmup} s of warm-up at 32 connections, median (min–max), 1 KiB, cluster policy \`${values.policy}\`.`,
    "",
    "| target | workers | conns | req/s | p50 ms | p99 ms | CPU µs/req | ctx switches/req | req/s ÷ 1 worker | CPU ÷ 1 worker |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const one = rows.find((r) => r.kind === row.kind && r.conns === row.conns && r.workers === 1);
    const m = row.median;
    lines.push(
      `| ${row.kind} | ${row.workers} | ${row.conns} | ${fmt(m.rps, 0)} (${fmt(row.min.rps, 0)}–${fmt(row.max.rps, 0)}) | ${fmt(m.p50Ms, 2)} | ${fmt(m.p99Ms, 1)} | ${fmt(m.cpuUs, 0)} (${fmt(row.min.cpuUs, 0)}–${fmt(row.max.cpuUs, 0)}) | ${fmt(m.switches, 1)} | ${fmt(m.rps / one.median.rps, 2)}× | ${fmt(m.cpuUs / one.median.cpuUs, 2)}× |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

async function main() {
  guardChildren();
  const machine = await describeMachine();
  const tmp = await mkdtemp(join(tmpdir(), "palisade-cluster-"));
  const app = await startApp();
  const ctx = {
    tmp,
    appPort: app.port,
    pkiDir: await makePki(join(tmp, "pki"), [TENANT], ["web", "orders"]),
  };
  const targets = [];
  for (const [kind, start] of Object.entries(KINDS)) {
    for (const workers of [1, N]) {
      const t = { kind, workers, ...(await start(ctx, workers)) };
      await sanityCheck(kind.startsWith("palisade") ? "palisade" : kind, t.url);
      targets.push(t);
    }
  }
  // Every worker's JIT warms before the first measured round, not during it.
  for (const t of targets) await measure(ctx, t, 32, Number(values.warmup));
  const samples = new Map();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const conns of [1, 32]) {
      const order = round % 2 ? [...targets].reverse() : targets;
      for (const t of order) {
        const s = await measure(ctx, t, conns);
        log(`round ${round} ${t.kind} ×${t.workers} c=${conns}: ${JSON.stringify(s)}`);
        const key = `${t.kind}/${t.workers}/${conns}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
      }
    }
  }
  const rows = [...samples].map(([key, list]) => {
    const [kind, workers, conns] = key.split("/");
    const over = (f) => Object.fromEntries(FIELDS.map((k) => [k, f(list.map((s) => s[k]))]));
    return {
      kind,
      workers: Number(workers),
      conns: Number(conns),
      median: over(median),
      min: over((xs) => Math.min(...xs)),
      max: over((xs) => Math.max(...xs)),
      errors: list.reduce((n, s) => n + s.errors, 0),
      samples: list,
    };
  });
  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.conns - b.conns || a.workers - b.workers);
  const out = join(ROOT, "bench/results");
  await writeFile(
    join(out, "cluster.json"),
    `${JSON.stringify({ machine, options: values, rows }, null, 2)}\n`,
  );
  await writeFile(join(out, "cluster.md"), markdown(machine, rows));
  log(markdown(machine, rows));
  await stopAll();
  await rm(tmp, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    await stopAll();
    process.exit(1);
  },
);
