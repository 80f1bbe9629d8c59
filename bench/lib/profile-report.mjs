/** bench/results/profile.md: the bucket table per connection count, rows side by side. */
import { BUCKETS } from "./buckets.mjs";
import { table } from "./table.mjs";

const us = (x) => (x === undefined ? "–" : x.toFixed(1));
const pct = (x) => (x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);

function bucketTable(runs) {
  const header = ["bucket", ...runs.flatMap((r) => [`${r.row} µs/req`, "share"])];
  const pair = runs.length === 2;
  if (pair) header.push(`${runs[0].row} − ${runs[1].row} µs/req`);
  const line = (name, values) => {
    const cells = [name, ...values.flatMap(([v, s]) => [us(v), pct(s)])];
    if (pair) cells.push(us(values[0][0] - values[1][0]));
    return cells;
  };
  const rows = BUCKETS.map((b) =>
    line(
      b,
      runs.map((r) => [r.buckets[b]?.usPerRequest ?? 0, r.buckets[b]?.share ?? 0]),
    ),
  );
  rows.push(
    line(
      "**main thread CPU (/proc)**",
      runs.map((r) => [r.mainCpuUsPerRequest, 1]),
    ),
  );
  rows.push(
    line(
      "other threads (/proc): profiler, GC helpers, threadpool, compiler",
      runs.map((r) => [r.processCpuUsPerRequest - r.mainCpuUsPerRequest, undefined]),
    ),
  );
  rows.push(
    line(
      "**process CPU, all threads (/proc)**",
      runs.map((r) => [r.processCpuUsPerRequest, undefined]),
    ),
  );
  return table(header, rows);
}

export function profileMarkdown({ machine, settings, runs }, topN = 15) {
  const out = ["# Where each request's time goes: CPU profile buckets", ""];
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${machine.date}; load average ` +
      `${machine.loadAverageAtStart.join(", ")} at start, ${(machine.loadAverageAtEnd ?? []).join(", ")} at end.`,
    "",
    `Layout ${settings.layout}, Palisade features ${settings.features}, route \`/tenants/acme/nostore/${settings.size}\`; ` +
      `each row started once under \`node --cpu-prof --cpu-prof-interval ${settings.interval}\` (µs), then per connection ` +
      `count ${settings.warmup} s warmup and ${settings.seconds} s measured with wrk. Only samples inside the measured ` +
      "window count. share = the bucket's part of the sampled busy time (all processes of the row summed); " +
      "µs/req = share × the main threads' CPU time in the window (/proc/PID/task/PID/stat) ÷ requests served. " +
      "Samples are wall-clock ticks, so on a busy machine a thread waiting for a core still collects them: shares hold, " +
      "sampled time overstates CPU, hence the /proc scaling. The profile sees each main thread only: the other threads " +
      "(the profiler itself, parallel GC, the threadpool's file writes) are the line below the buckets. The profiler's own cost inflates both rows alike.",
    "",
    "Buckets are the frame's script (self time), by the rule table in `bench/lib/buckets.mjs`; native frames and " +
      "Node's crypto and buffer helpers are charged to their caller. `socket writes` is native `writev`/`write*String`: " +
      "the send syscall and, on TLS sockets, the encryption; TLS reads decrypt in native code before any JS frame, so " +
      "they land in `(program)`. Read TLS as the JS side of TLS plus part of those two rows.",
    "",
  );
  const byConnections = new Map();
  for (const r of runs)
    byConnections.set(r.connections, [...(byConnections.get(r.connections) ?? []), r]);
  for (const [connections, group] of byConnections) {
    out.push(`## ${connections} connection${connections > 1 ? "s" : ""}`, "");
    for (const r of group)
      out.push(
        `- **${r.row}**: ${Math.round(r.rps)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ` +
          `${r.requests} requests, ${pct(r.idleShare)} of sampled time idle, ${us(r.sampledBusyUsPerRequest)} µs/req ` +
          `sampled busy; profiles in \`${r.profiles}\``,
      );
    out.push("", bucketTable(group), "");
    for (const r of group) {
      out.push(`Top ${topN} functions by self time, ${r.row}:`, "");
      out.push(
        table(
          ["share", "µs/req", "function", "where"],
          r.top.slice(0, topN).map((f) => [pct(f.share), us(f.usPerRequest), f.name, f.where]),
        ),
        "",
      );
    }
  }
  return `${out.join("\n")}\n`;
}
