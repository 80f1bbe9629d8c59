/**
 * Text for a terminal from values that came off the network: paths and peer names are
 * printed with every control character (C0, DEL, C1: the ones that start escape sequences)
 * shown as `\xNN`, so an event cannot move the cursor or retitle the window.
 */
import type { RequestEvent } from "./event.js";
import type { TopRow } from "./stats.js";

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function printable(value: string | number | null | undefined): string {
  const text = value === undefined || value === null ? "-" : String(value);
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** `time direction caller/peer -> target METHOD path status decision[ code] Nms request-id` */
export function eventLine(e: RequestEvent): string {
  const caller = `${printable(e.tenant)}${e.peer === undefined ? "" : `/${printable(e.peer)}`}`;
  const code = e.code === undefined ? "" : ` ${printable(e.code)}`;
  return [
    printable(e.time),
    printable(e.direction),
    `${caller} -> ${printable(e.target)}`,
    printable(e.method),
    printable(e.path),
    String(e.status),
    `${printable(e.decision)}${code}`,
    `${e.durationMs}ms`,
    printable(e.requestId),
  ].join(" ");
}

export const TOP_COLUMNS = [
  "DIRECTION",
  "TENANT",
  "PEER",
  "RPS",
  "SUCCESS",
  "P50",
  "P99",
  "DENIALS",
];

/** One aligned table; `-` where a value is unknown. */
export function topTable(rows: readonly TopRow[]): string {
  const cells = rows.map((r) => [
    printable(r.direction),
    printable(r.tenant),
    printable(r.peer),
    r.rps.toFixed(2),
    r.successRate === undefined ? "-" : `${(r.successRate * 100).toFixed(1)}%`,
    ms(r.p50Ms),
    ms(r.p99Ms),
    String(r.denials),
  ]);
  const all = [TOP_COLUMNS, ...cells];
  const widths = TOP_COLUMNS.map((_, i) => Math.max(...all.map((line) => (line[i] ?? "").length)));
  const lines = all.map((line) =>
    line
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

function ms(value: number | undefined): string {
  return value === undefined ? "-" : `${value}ms`;
}
