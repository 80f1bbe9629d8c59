/**
 * The request-path tables and the goals table. Every figure and ratio prints as the median
 * across rounds with the spread (min–max) beside it: `0.93× (0.88–1.01)`.
 */
import { table } from "./table.mjs";

const ORDER = ["direct", "palisade", "bare", "nginx"];

/** `median (min–max)` with `digits` decimals and `unit`, or the median alone for one round. */
export function spreadText(s, digits = 2, unit = "") {
  if (!s) return "–";
  const f = (x) => `${x.toFixed(digits)}${unit}`;
  if (s.values.length < 2) return f(s.median);
  return `${f(s.median)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

const signed = (s) => (s ? spreadText(s, 2).replace(/^(\d)/, "+$1") : "–");

function rowOrder(a, b) {
  return (
    (a.layout ?? "").localeCompare(b.layout ?? "") ||
    a.workers - b.workers ||
    ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) ||
    a.name.localeCompare(b.name)
  );
}

/** One table per body size and load shape. */
export function throughputTables(cells) {
  const header = [
    "row",
    "req/s",
    "p50 ms",
    "p99 ms",
    "+p50 ms vs direct",
    "+p99 ms vs direct",
    "proxy CPU µs/req",
    "req/s ÷ bare",
    "p50 ÷ bare",
    "CPU ÷ bare",
    "req/s ÷ nginx",
    "p50 ÷ nginx",
    "CPU ÷ nginx",
  ];
  const groups = new Map();
  for (const c of cells) {
    const key = `${c.size === "small" ? "1 KiB" : "64 KiB"}, ${c.connections} connection${c.connections > 1 ? "s" : ""}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const out = [];
  for (const [title, group] of groups) {
    out.push(`### ${title}`, "");
    const rows = [...group].sort(rowOrder).map((c) => {
      const f = c.figures;
      const direct = c.kind === "direct";
      return [
        c.name + (c.errors ? ` (${c.errors} errors)` : ""),
        spreadText(f.rps, 0),
        spreadText(f.p50Ms),
        spreadText(f.p99Ms),
        direct ? "" : signed(f.addedP50Ms),
        direct ? "" : signed(f.addedP99Ms),
        direct ? "" : spreadText(f.cpuUs, 0),
        spreadText(f.rpsVsBare, 2, "×"),
        spreadText(f.p50VsBare, 2, "×"),
        spreadText(f.cpuVsBare, 2, "×"),
        spreadText(f.rpsVsNginx, 2, "×"),
        spreadText(f.p50VsNginx, 2, "×"),
        spreadText(f.cpuVsNginx, 2, "×"),
      ];
    });
    out.push(table(header, rows), "");
  }
  return out.join("\n");
}

export function goalsTable(goals) {
  return table(
    ["goal", "row", "measured: median (min–max)", "bar", "verdict"],
    goals.map((g) => [
      g.goal,
      g.row,
      g.measured ? spreadText(g.measured, 2, g.unit) : "–",
      `${g.op === "<=" ? "≤" : "≥"} ${g.bar.toFixed(1)}${g.unit}`,
      g.verdict,
    ]),
  );
}

/** Lines that show the features were really on in the Palisade rows. */
export function featureLines(proof) {
  if (!proof) return [];
  const lines = Object.entries(proof.rows).map(
    ([name, r]) =>
      `${name}: access log ${(r.accessLogBytes / 1024 ** 2).toFixed(1)} MiB written; inbound cache requests by result ${JSON.stringify(r.cacheRequests)}`,
  );
  if (proof.traceSinkPosts !== undefined)
    lines.push(
      `OTLP trace sink: ${proof.traceSinkPosts} POSTs received (sampleRatio 0: none expected)`,
    );
  return lines;
}
