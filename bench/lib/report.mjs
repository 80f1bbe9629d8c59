/** Turns the results into the printed table and bench/results/latest.{md,json}. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { memorySection } from "./memory-report.mjs";

const f = (x, digits = 2) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
const times = (x) => (x === undefined ? "–" : `${x.toFixed(2)}×`);
const plus = (x) => (x === undefined ? "–" : `${x >= 0 ? "+" : ""}${x.toFixed(2)}`);

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

export function throughputTable(rows) {
  const header = [
    "size",
    "conns",
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "+p50 ms vs direct",
    "+p99 ms vs direct",
    "req/s ÷ nginx",
    "req/s ÷ bare",
    "p50 ÷ nginx",
    "p50 ÷ bare",
    "proxy CPU µs/req",
    "CPU ÷ nginx",
    "CPU ÷ bare",
  ];
  const order = ["direct", "palisade", "nginx", "bare"];
  const sorted = [...rows].sort(
    (a, b) =>
      a.size.localeCompare(b.size) * -1 ||
      a.connections - b.connections ||
      order.indexOf(a.target) - order.indexOf(b.target),
  );
  return table(
    header,
    sorted.map((r) => [
      r.size === "small" ? "1 KiB" : "64 KiB",
      `${r.connections}`,
      r.target,
      Math.round(r.rps),
      f(r.p50Ms),
      f(r.p99Ms),
      r.target === "direct" ? "" : plus(r.addedP50Ms),
      r.target === "direct" ? "" : plus(r.addedP99Ms),
      times(r.rpsVsNginx),
      times(r.rpsVsBare),
      times(r.p50VsNginx),
      times(r.p50VsBare),
      r.target === "direct" ? "" : f(r.cpuUsPerRequest?.proxies, 0),
      times(r.cpuVsNginx),
      times(r.cpuVsBare),
    ]),
  );
}

export { memoryTable } from "./memory-report.mjs";

export function cacheTable(cache) {
  const all = (c) => (c ? c.caller + c.callee + c.app : undefined);
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
      "callee CPU µs/req hit / miss",
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
      `${f(r.hit.cpuUsPerRequest?.callee, 0)} / ${f(r.miss.cpuUsPerRequest?.callee, 0)}`,
      `${f(all(r.hit.cpuUsPerRequest), 0)} / ${f(all(r.miss.cpuUsPerRequest), 0)}`,
      times(r.cpuRatio),
    ]),
  );
}

export function renderMarkdown(results) {
  const { machine, settings } = results;
  const out = [];
  out.push("# Palisade benchmark: side by side", "");
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
      `Node ${machine.node}, nginx ${machine.nginx}, load by ${machine.loadTool}${machine.wrk ? ` ${machine.wrk}` : ""}; ${machine.date}.`,
    "",
    `**Everything shares these ${machine.cores} cores**: the load generator, both proxy hops and the app. ` +
      "Numbers are for comparing the rows with each other on one machine in one run, not absolute capacity. " +
      `Load average (1, 5, 15 min): ${Object.entries(
        machine.loadAverages ?? { start: machine.loadAverageAtStart },
      )
        .map(([phase, l]) => `${phase} ${l.join(", ")}`)
        .join("; ")}.`,
    "",
    `Each cell: ${settings.warmup} s warmup, then ${settings.seconds} s measured` +
      (settings.rounds > 1
        ? `, ${settings.rounds} rounds, the run with the median req/s kept`
        : "") +
      "; all targets stay up and take turns per cell, so background drift hits them alike. " +
      "conns 1 = `-t1 -c1` (latency), " +
      "conns 32 = `-t2 -c32` (throughput). Ratios are this row ÷ the nginx / bare-Node row of the same size and conns " +
      "(req/s: higher is better; p50 and CPU: lower is better). +p50/+p99 = latency added over the direct row. " +
      "proxy CPU µs/req = user+system CPU of both proxy processes (all threads, nginx master and worker) per request, " +
      "from /proc/PID/stat: unlike req/s it does not depend on how the scheduler shares the cores.",
    "",
  );
  out.push("## Request path: app → outbound proxy → mTLS → inbound proxy → app", "");
  for (const [name, target] of Object.entries(settings.targets))
    out.push(`- **${name}**: ${target}`);
  out.push("");
  if (results.throughput) {
    out.push(throughputTable(results.throughput.rows), "");
    for (const f of results.throughput.failures)
      out.push(`- **${f.target}**: ${f.skipped ? "" : "failed: "}${f.error}`);
    const tls = Object.entries(results.throughput.tls ?? {}).filter(([, v]) => v);
    if (tls.length)
      out.push(
        `- TLS on the mTLS hop: ${tls.map(([k, v]) => `${k} ${v.protocol} ${v.cipher}`).join("; ")}`,
      );
    out.push("");
  }
  if (results.memory) out.push(...memorySection(results.memory));
  if (results.cache) {
    if (results.cache.error)
      out.push("## Cache hit vs miss", "", `failed: ${results.cache.error}`, "");
    else {
      out.push("## Cache hit vs miss (through the Palisade pair)", "");
      out.push(
        "Callee inbound cache on, `defaultTtl: 60s`. Hit: `/tenants/acme/{size}` answered from the callee's tenant " +
          "partition. Miss: `/tenants/acme/nostore/{size}`, `cache-control: no-store`, so every request goes to the app. " +
          `Callee counters after the run: ${JSON.stringify(results.cache.counters)}.`,
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
