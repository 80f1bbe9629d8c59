/**
 * The side-by-side rows, in interleaved rounds. All rows are started first and stay up
 * (idle ones cost nothing). Each round runs every cell (body size × load shape) once per
 * row, the rows taking turns in an order rotated by one each round, so that no row is
 * always first after a quiet spell or last after a busy one. Load averages are read
 * before and after each round. `aggregate.mjs` turns the samples into medians and spreads.
 */
import { loadavg } from "node:os";
import { summarize } from "./aggregate.mjs";
import { withCpu } from "./cpu.mjs";
import { accessLogBytes, cacheCounters } from "./features.mjs";
import { runLoad } from "./load.mjs";
import { unavailable } from "./rows.mjs";
import { errorNote } from "./stats.mjs";
import {
  CLIENT_HEADERS,
  provenFeatures,
  sanityCheck,
  startRow,
  TENANT,
  tlsProbe,
} from "./targets.mjs";

/** The benchmark route: the cache step runs (features on) and stores nothing (no-store). */
export const ROUTE = (size) => `/tenants/${TENANT}/nostore/${size}`;
/** `-t1 -c1`: latency with nothing queued. `-t2 -c32`: throughput. */
export const LOADS = [
  { name: "latency", threads: 1, connections: 1 },
  { name: "throughput", threads: 2, connections: 32 },
];

const loadNow = () => loadavg().map((x) => Math.round(x * 100) / 100);

export async function runThroughput({ rows, ctx, sizes, seconds, warmup, rounds, log }) {
  const failures = [];
  const tls = {};
  const running = new Map();
  try {
    for (const row of rows) {
      const reason = await unavailable(row);
      if (reason) {
        failures.push({ target: row.name, skipped: true, error: `${reason}; row skipped` });
        log(`${row.name}: skipped: ${reason}`);
        continue;
      }
      const started = await startChecked(row, ctx, log, failures);
      if (!started) continue;
      running.set(row.name, { row, started });
      if (started.inboundPort) tls[row.name] = await tlsProbe(started.inboundPort, ctx.pkiDir);
    }
    const samples = [];
    const roundLoads = [];
    const order = [...running.values()];
    for (let round = 1; round <= rounds; round++) {
      const before = loadNow();
      log(`round ${round}/${rounds} (load average ${before.join(", ")})`);
      const turn = [...order.slice(round - 1), ...order.slice(0, round - 1)];
      for (const size of sizes)
        for (const load of LOADS)
          for (const { row, started } of turn) {
            const spec = { row, started, size, load, ctx, seconds, warmup };
            const result = await measure(spec).catch((err) => {
              failures.push({
                target: row.name,
                error: `${size} c${load.connections}: ${err.message}`,
              });
              log(`  ${row.name} ${size} c${load.connections}: FAILED: ${err.message}`);
            });
            if (!result) continue;
            samples.push({ row, size, connections: load.connections, round, result });
            log(`  ${row.name} ${size} c${load.connections}: ${describe(result)}`);
          }
      roundLoads.push({ round, before, after: loadNow() });
    }
    const featureProof = await proveFeatures(running, ctx);
    return { cells: summarize(samples), samples, failures, tls, roundLoads, featureProof };
  } finally {
    await Promise.all([...running.values()].map(({ started }) => started.stop()));
  }
}

/** Starts a row and proves it answers correctly; a failure is recorded and logged, not thrown. */
async function startChecked(row, ctx, log, failures) {
  let started;
  try {
    log(`${row.name}: starting`);
    started = await startRow(row, ctx);
    await sanityCheck(row.name, started.url);
    await provenFeatures(row, started);
    return started;
  } catch (err) {
    failures.push({ target: row.name, error: err.message });
    log(`${row.name}: FAILED to start: ${err.message}`);
    await started?.stop();
    return undefined;
  }
}

async function measure({ row, started, size, load, ctx, seconds, warmup }) {
  const spec = {
    url: `${started.url}${ROUTE(size)}`,
    headers: CLIENT_HEADERS,
    connections: load.connections,
    threads: load.threads,
    tmpDir: ctx.tmp,
  };
  if (warmup > 0) await runLoad({ ...spec, seconds: warmup });
  const result = await withCpu(
    { proxies: started.procs.map((p) => p.pid), app: [ctx.appPid] },
    () => runLoad({ ...spec, seconds }),
  );
  if (result.requests === 0) throw new Error(`${row.name}: no request answered`);
  return result;
}

function describe(result) {
  const cpu = result.cpuUsPerRequest.proxies;
  return (
    `${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
    `proxy CPU ${cpu === undefined ? "–" : cpu.toFixed(0)} µs/req${errorNote(result)}`
  );
}

/**
 * What shows the features were on for the whole run: access log bytes per Palisade row,
 * its inbound cache counters (every benchmark request a no-store miss), and the POSTs the
 * trace sink received (0 expected: sampled at 0).
 */
async function proveFeatures(running, ctx) {
  const rows = {};
  for (const { row, started } of running.values()) {
    if (row.kind !== "palisade") continue;
    rows[row.name] = {
      accessLogBytes: started.accessLog ? await accessLogBytes(started.accessLog) : 0,
      cacheRequests: await cacheCounters(started.adminPort).catch((err) => err.message),
    };
  }
  return { rows, traceSinkPosts: ctx.traceSink?.posts() };
}
