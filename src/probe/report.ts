/** The probe's report: an aligned table for people, or JSON for pipelines. */
import type { CaseResult } from "./cases.js";

export function formatReport(results: readonly CaseResult[], format: "human" | "json"): string {
  const failed = results.filter((r) => !r.pass && r.skipped === undefined).length;
  const skipped = results.filter((r) => r.skipped !== undefined).length;
  const passed = results.length - failed - skipped;
  if (format === "json") {
    return `${JSON.stringify({ passed, failed, skipped, cases: results }, null, 2)}\n`;
  }
  const rows = results.map((r) => [
    `${r.group}/${r.name}`,
    r.expected,
    r.skipped ? `skipped: ${r.skipped}` : r.seen,
    r.skipped ? "-" : r.pass ? "pass" : "FAIL",
  ]);
  const header = ["case", "expected", "seen", "pass"];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] as string).length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] as number)))
      .join("  ");
  return [
    line(header),
    ...rows.map(line),
    "",
    `${passed} passed, ${failed} failed, ${skipped} skipped`,
    "",
  ].join("\n");
}
