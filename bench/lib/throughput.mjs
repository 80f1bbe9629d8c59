/**
 * The side-by-side rows. All targets are started first and stay up (idle ones cost
 * nothing); then for each body size and load shape the targets take turns, a warmup run
 * then a measured run each, so that any drift in background load on a shared machine
 * hits every target alike. With `rounds` > 1 the turns repeat and each cell keeps the
 * run with the median req/s.
 */
import { withCpu } from "./cpu.mjs";
import { runLoad } from "./load.mjs";
import { errorNote, median } from "./stats.mjs";
import { CLIENT_HEADERS, sanityCheck, TARGETS, TENANT, tlsProbe } from "./targets.mjs";

export const SIZES = ["small", "large"];
/** `-t1 -c1`: latency with nothing queued. `-t2 -c32`: throughput. */
export const LOADS = [
  { name: "latency", threads: 1, connections: 1 },
  { name: "throughput", threads: 2, connections: 32 },
];

export async function runThroughput({ targets, ctx, seconds, warmup, rounds = 1, log }) {
  const failures = [];
  const tls = {};
  const running = new Map();
  try {
    for (const name of targets) {
      const target = TARGETS[name];
      if (target.available && !target.available()) {
        failures.push({
          target: name,
          skipped: true,
          error: `${name} is not installed; row skipped`,
        });
        log(`${name}: not installed, skipped`);
        continue;
      }
      try {
        log(`${name}: starting (${target.describe})`);
        const started = await target.start(ctx);
        running.set(name, started);
        await sanityCheck(name, started.url);
        if (started.inboundPort) tls[name] = await tlsProbe(started.inboundPort, ctx.pkiDir);
      } catch (err) {
        failures.push({ target: name, error: err.message });
        log(`${name}: FAILED to start: ${err.message}`);
        await running.get(name)?.stop();
        running.delete(name);
      }
    }
    const samples = new Map();
    for (const size of SIZES) {
      for (const load of LOADS) {
        for (let round = 1; round <= rounds; round++) {
          for (const [name, target] of running) {
            const spec = {
              url: `${target.url}/tenants/${TENANT}/${size}`,
              headers: CLIENT_HEADERS,
              connections: load.connections,
              threads: load.threads,
              tmpDir: ctx.tmp,
            };
            try {
              if (warmup > 0) await runLoad({ ...spec, seconds: warmup });
              const result = await withCpu(
                { proxies: target.procs.map((p) => p.pid), app: [ctx.appPid] },
                () => runLoad({ ...spec, seconds }),
              );
              const key = `${name}|${size}|${load.connections}`;
              samples.set(key, [...(samples.get(key) ?? []), { target: name, size, load, result }]);
              log(
                `  ${name} ${size} c${load.connections}${rounds > 1 ? ` round ${round}` : ""}: ${Math.round(result.rps)} req/s, ` +
                  `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
                  `proxy CPU ${cpuText(result.cpuUsPerRequest.proxies)} µs/req${errorNote(result)}`,
              );
            } catch (err) {
              failures.push({
                target: name,
                error: `${size} c${load.connections}: ${err.message}`,
              });
              log(`  ${name} ${size} c${load.connections}: FAILED: ${err.message}`);
            }
          }
        }
      }
    }
    const rows = [...samples.values()].map((runs) => {
      const rpsMedian = median(runs.map((r) => r.result.rps));
      const chosen = runs.find((r) => r.result.rps === rpsMedian) ?? nearest(runs, rpsMedian);
      return {
        target: chosen.target,
        size: chosen.size,
        connections: chosen.load.connections,
        threads: chosen.load.threads,
        ...chosen.result,
        ...(runs.length > 1 ? { roundsRps: runs.map((r) => Math.round(r.result.rps)) } : {}),
      };
    });
    return { rows: withRatios(rows), failures, tls };
  } finally {
    await Promise.all([...running.values()].map((t) => t.stop()));
  }
}

/** With an even number of rounds the median is between two runs: keep the one just above. */
function nearest(runs, rps) {
  return [...runs].sort((a, b) => Math.abs(a.result.rps - rps) - Math.abs(b.result.rps - rps))[0];
}

/** Each row against direct (added latency), nginx and the bare Node pair (ratios). */
export function withRatios(rows) {
  const find = (target, row) =>
    rows.find(
      (r) => r.target === target && r.size === row.size && r.connections === row.connections,
    );
  return rows.map((row) => {
    const direct = find("direct", row);
    const nginx = find("nginx", row);
    const bare = find("bare", row);
    const ratio = (a, b) => (b ? a / b : undefined);
    return {
      ...row,
      addedP50Ms: direct ? row.p50Ms - direct.p50Ms : undefined,
      addedP99Ms: direct ? row.p99Ms - direct.p99Ms : undefined,
      rpsVsNginx: ratio(row.rps, nginx?.rps),
      rpsVsBare: ratio(row.rps, bare?.rps),
      p50VsNginx: ratio(row.p50Ms, nginx?.p50Ms),
      p50VsBare: ratio(row.p50Ms, bare?.p50Ms),
      // The direct row has no proxy, so no proxy CPU to compare.
      cpuVsNginx:
        row.target === "direct"
          ? undefined
          : ratio(row.cpuUsPerRequest.proxies, nginx?.cpuUsPerRequest.proxies),
      cpuVsBare:
        row.target === "direct"
          ? undefined
          : ratio(row.cpuUsPerRequest.proxies, bare?.cpuUsPerRequest.proxies),
    };
  });
}

function cpuText(us) {
  return us ? us.toFixed(0) : "–";
}
