/** Turns the results into the printed tables and bench/results/latest.{md,json}. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { featureLines, goalsTable, throughputTables } from "./report-throughput.mjs";
import { memorySection } from "./memory-report.mjs";
import { table } from "./table.mjs";

const f = (x, digits = 2) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
const times = (x) => (x === undefined ? "–" : `${x.toFixed(2)}×`);

export { memoryTable } from "./memory-report.mjs";

export function cacheTable(cache) {
  const all = (c) => (c ? c.proxy + c.app : undefined);
  return table(
    [
      "size",
      "conns",
      "hit req/s",
      "miss req/s",
      "hit ÷ miss req/s",
      "hit p50 ms",
      "miss p50 ms",
      "hit p99 ms",
      "miss p99 ms",
      "sidecar CPU µs/req hit / miss",
      "all CPU µs/req hit / miss",
      "hit ÷ miss CPU",
    ],
    cache.rows.map((r) => [
      r.size === "small" ? "1 KiB" : "64 KiB",
      r.connections,
      Math.round(r.hit.rps),
      Math.round(r.miss.rps),
      times(r.rpsRatio),
      f(r.hit.p50Ms),
      f(r.miss.p50Ms),
      f(r.hit.p99Ms),
      f(r.miss.p99Ms),
      `${f(r.hit.cpuUsPerRequest?.proxy, 0)} / ${f(r.miss.cpuUsPerRequest?.proxy, 0)}`,
      `${f(all(r.hit.cpuUsPerRequest), 0)} / ${f(all(r.miss.cpuUsPerRequest), 0)}`,
      times(r.cpuRatio),
    ]),
  );
}

function machineLines({ machine, settings, throughput }) {
  const loads = (throughput?.roundLoads ?? [])
    .map((r) => `round ${r.round}: ${r.before.join(", ")} → ${r.after.join(", ")}`)
    .join("; ");
  return [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
      `Node ${machine.node}, nginx ${machine.nginx}, load by ${machine.loadTool}${machine.wrk ? ` ${machine.wrk}` : ""}; ${machine.date}.`,
    "",
    `**Everything shares these ${machine.cores} cores**: the load generator, the proxies and the app. ` +
      "Compare the rows with each other (ratios), not absolute capacity. " +
      `Load average (1, 5, 15 min) at start ${machine.loadAverageAtStart.join(", ")}, at end ${(machine.loadAverageAtEnd ?? []).join(", ")}` +
      (loads ? `; before → after each round: ${loads}.` : "."),
    "",
    `Each cell: ${settings.warmup} s warmup, then ${settings.seconds} s measured, in ${settings.rounds} interleaved ` +
      "round(s): every row once per round, the order rotated by one each round. Figures are the median across rounds " +
      "with the spread (min–max); a ratio is taken within a round (this row ÷ the bare / nginx row of the same layout " +
      "and workers, or − direct for added latency) and then summarised the same way. conns 1 = `wrk -t1 -c1` (latency), " +
      "conns 32 = `wrk -t2 -c32` (throughput). proxy CPU µs/req = user+system CPU of every proxy process " +
      "(all threads and workers) per request, from /proc/PID/stat.",
    "",
  ];
}

export function renderMarkdown(results) {
  const { settings, throughput } = results;
  const out = ["# Palisade benchmark: side by side", "", ...machineLines(results)];
  if (throughput) {
    out.push("## Goals (issue 17)", "", goalsTable(throughput.goals), "");
    out.push("## Request path", "", "Route: `/tenants/acme/nostore/{size}` on every row.", "");
    for (const [name, what] of Object.entries(settings.rows ?? {}))
      out.push(`- **${name}**: ${what}`);
    out.push("", throughputTables(throughput.cells));
    for (const fail of throughput.failures)
      out.push(`- **${fail.target}**: ${fail.skipped ? "" : "failed: "}${fail.error}`);
    const tls = Object.entries(throughput.tls ?? {}).filter(([, v]) => v);
    if (tls.length)
      out.push(
        `- TLS on the mTLS hop: ${tls.map(([k, v]) => `${k} ${v.protocol} ${v.cipher}`).join("; ")}`,
      );
    for (const line of featureLines(throughput.featureProof)) out.push(`- ${line}`);
    out.push("");
  }
  if (results.memory) out.push(...memorySection(results.memory));
  if (results.cache) {
    if (results.cache.error)
      out.push("## Cache hit vs miss", "", `failed: ${results.cache.error}`, "");
    else {
      out.push("## Cache hit vs miss (palisade-1p, every feature on; not in the main table)", "");
      out.push(
        "Inbound cache on, `defaultTtl: 60s`. Hit: `/tenants/acme/{size}` answered from the tenant's " +
          "partition. Miss: `/tenants/acme/nostore/{size}`, `cache-control: no-store` (the main table's route), so every " +
          `request goes to the app after the lookup. Inbound counters after the run: ${JSON.stringify(results.cache.counters)}.`,
        "",
        cacheTable(results.cache),
        "",
      );
    }
  }
  for (const note of results.notes ?? []) out.push(`- ${note}`);
  return `${out.join("\n")}\n`;
}

export async function writeResults(dir, basename, results) {
  await mkdir(dir, { recursive: true });
  const md = renderMarkdown(results);
  await writeFile(join(dir, `${basename}.md`), md);
  await writeFile(join(dir, `${basename}.json`), `${JSON.stringify(results, null, 2)}\n`);
  return md;
}
