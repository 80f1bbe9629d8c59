/** The memory and startup section of a results file (see memory.mjs for what is measured). */
import { table } from "./table.mjs";

const f = (x, digits = 1) => (x === undefined || x === null ? "–" : x.toFixed(digits));
const kib = (bytes) => (bytes === undefined ? "–" : `${(bytes / 1024).toFixed(1)} KiB`);

/** One row per tenant count: single-process layout, then the pair. */
export function memoryTable(memory) {
  if (!memory.results.some((r) => r.single)) return legacyNote(memory);
  return table(
    [
      "tenants",
      "single: startup ms (CPU ms)",
      "idle RSS MiB",
      "heap used / external MiB",
      "peak under load",
      "RSS after load",
      "pair: startup ms callee / caller",
      "idle RSS callee / caller",
      "peak callee / caller",
    ],
    memory.results.map((r) => {
      if (r.error) {
        const why = r.error.replace(/\s+/g, " ").slice(0, 100);
        return [r.tenants, "failed", why, "", "", "", "", "", ""];
      }
      const { single: s } = r;
      const p = r.pair ?? { callee: {}, caller: {} };
      return [
        r.tenants,
        `${f(s.startupMs, 0)} (${f(s.startupCpuMs, 0)})`,
        f(s.idle.rssMiB),
        `${f(s.idle.heapUsedMiB)} / ${f(s.idle.externalMiB)}`,
        f(s.peakRssMiB),
        f(s.afterLoad.rssMiB),
        `${f(p.callee.startupMs, 0)} / ${f(p.caller.startupMs, 0)}`,
        `${f(p.callee.idle?.rssMiB)} / ${f(p.caller.idle?.rssMiB)}`,
        `${f(p.callee.peakRssMiB)} / ${f(p.caller.peakRssMiB)}`,
      ];
    }),
  );
}

/** Memory per idle tenant between consecutive counts (single layout). */
export function perTenantTable(memory) {
  return table(
    ["tenants", "RSS per tenant", "heap used per tenant", "external per tenant"],
    (memory.perTenant ?? []).map((s) => [
      `${s.from} → ${s.to}`,
      kib(s.rssBytes),
      kib(s.heapUsedBytes),
      kib(s.externalBytes),
    ]),
  );
}

/** Lines of the results file's memory section. */
export function memorySection(memory) {
  const trials = memory.results
    .filter((r) => r.single)
    .map((r) => `${r.tenants}: ${r.single.startupTrialsMs.map((x) => x.toFixed(0)).join(", ")}`)
    .join("; ");
  return [
    "## Memory and startup (Palisade)",
    "",
    "N tenants (own CA and SVID each), two layouts: **single** = one sidecar whose outbound " +
      "upstream is its own inbound (the layout users run); **pair** = a caller and a callee " +
      "sidecar, each holding the N tenants (up to 1000). Startup = spawn → admin `/readyz` 200 " +
      "(single: median of 3 cold starts, one above 1000 tenants; pair: one each); CPU ms = the " +
      "process's user + system CPU until ready, which other load on the box hardly moves. " +
      "Idle = 2 s after ready: RSS is VmRSS from /proc/PID/status, heap used and external are " +
      "the process's `nodejs_heap_size_used_bytes` / `nodejs_external_memory_bytes`. Peak = RSS " +
      "sampled every 200 ms through a warmup and a measured `-t2 -c32` burst spread " +
      "round-robin over all N tenants (each tenant gets a pooled mTLS connection, an SNI " +
      "context and metric children; with many tenants most requests pay a new handshake). " +
      (memory.nodeFlags?.length
        ? `Node flags (the bin's): \`${memory.nodeFlags.join(" ")}\`.`
        : "No Node flags."),
    "",
    memoryTable(memory),
    "",
    "Memory per idle tenant (slope of the single layout's idle figures):",
    "",
    perTenantTable(memory),
    "",
    `Startup trials, ms (single): ${trials}.`,
    "",
  ];
}

function legacyNote(memory) {
  return `(an older run's layout: ${JSON.stringify(memory.results.map((r) => r.tenants))})`;
}
