/** Turns the results into the printed tables and bench/results/latest.{md,json}. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { featureLines, goalsTable, throughputTables } from "./report-throughput.mjs";
import { table } from "./table.mjs";

const f = (x, digits = 2) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
const times = (x) => (x === undefined ? "–" : `${x.toFixed(2)}×`);
const mib = (x) => (x === undefined ? "–" : x.toFixed(1));

export function memoryTable(memory) {
  return table(
    [
      "tenants",
      "startup ms (median)",
      "RSS idle MiB callee / caller",
      "RSS peak under load MiB callee / caller",
      "req/s during load",
      "CPU µs/req callee / caller",
    ],
    memory.results.map((m) =>
      m.error
        ? [m.tenants, "failed", m.error.slice(0, 80), "", "", ""]
        : [
            m.tenants,
            f(memory.startup[m.tenants]?.medianMs, 0),
            `${mib(m.idle.callee)} / ${mib(m.idle.caller)}`,
            `${mib(m.peak.callee)} / ${mib(m.peak.caller)}`,
            Math.round(m.load.rps),
            `${f(m.load.cpuUsPerRequest?.callee, 0)} / ${f(m.load.cpuUsPerRequest?.caller, 0)}`,
          ],
    ),
  );
}

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
  if (results.memory) {
    out.push("## Memory and startup (Palisade)", "");
    out.push(
      "A caller/callee pair, each holding N tenants (own CA and SVID per tenant). RSS is VmRSS from " +
        "/proc/PID/status: idle 2 s after ready, peak sampled every 200 ms through warmup and measured `-t2 -c32` " +
        "load spread round-robin over all N tenants (a pooled mTLS connection per tenant while it stays open; " +
        "when a tenant's turn comes less often than the caller's upstream keep-alive, every request pays a new handshake). " +
        "Startup = spawn → admin `/readyz` 200" +
        (results.memory.startup[settings.tenantCounts.at(-1)]
          ? `; ${settings.tenantCounts.at(-1)} tenants, trials ${results.memory.startup[settings.tenantCounts.at(-1)].trialsMs.map((x) => x.toFixed(0)).join(", ")} ms.`
          : "."),
      "",
      memoryTable(results.memory),
      "",
    );
  }
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
