/**
 * From per-round samples to the figures the tables print. A ratio is taken inside one
 * round (this row ÷ its peer row in the same cell of the same round: the two ran minutes
 * apart at most, under the same background load), then summarised across rounds as the
 * median and the spread (min–max). One round is not a result; a ratio of two medians would
 * mix rounds.
 */
import { median } from "./stats.mjs";
import { peerName } from "./rows.mjs";

/** `{ median, min, max, values }` of the defined values, or undefined when there are none. */
export function spread(values) {
  const defined = values.filter((v) => v !== undefined && Number.isFinite(v));
  if (defined.length === 0) return undefined;
  return {
    median: median(defined),
    min: Math.min(...defined),
    max: Math.max(...defined),
    values: defined,
  };
}

/** What each round's sample gives, before ratios. */
const FIGURES = {
  rps: (r) => r.rps,
  p50Ms: (r) => r.p50Ms,
  p99Ms: (r) => r.p99Ms,
  cpuUs: (r) => r.cpuUsPerRequest?.proxies,
};

/** Ratios against a peer sample of the same round and cell; `peer` is its result. */
const RATIOS = {
  rpsVsBare: ["bare", (r, p) => r.rps / p.rps],
  p50VsBare: ["bare", (r, p) => r.p50Ms / p.p50Ms],
  p99VsBare: ["bare", (r, p) => r.p99Ms / p.p99Ms],
  cpuVsBare: ["bare", (r, p) => r.cpuUsPerRequest?.proxies / p.cpuUsPerRequest?.proxies],
  rpsVsNginx: ["nginx", (r, p) => r.rps / p.rps],
  p50VsNginx: ["nginx", (r, p) => r.p50Ms / p.p50Ms],
  cpuVsNginx: ["nginx", (r, p) => r.cpuUsPerRequest?.proxies / p.cpuUsPerRequest?.proxies],
  addedP50Ms: ["direct", (r, p) => r.p50Ms - p.p50Ms],
  addedP99Ms: ["direct", (r, p) => r.p99Ms - p.p99Ms],
};

const cellKey = (s) => `${s.size}|${s.connections}`;

/**
 * `samples`: `[{ row, size, connections, round, result }]` where `row` is a planned row
 * (`{ name, kind, layout, features, workers }`). Returns one entry per row and cell, with
 * every figure and ratio as a spread across rounds.
 */
export function summarize(samples) {
  const index = new Map();
  for (const s of samples) index.set(`${s.row.name}|${cellKey(s)}|${s.round}`, s.result);
  const groups = new Map();
  for (const s of samples) {
    const key = `${s.row.name}|${cellKey(s)}`;
    if (!groups.has(key))
      groups.set(key, { row: s.row, size: s.size, connections: s.connections, runs: [] });
    groups.get(key).runs.push(s);
  }
  return [...groups.values()].map(({ row, size, connections, runs }) => {
    const figures = {};
    for (const [name, read] of Object.entries(FIGURES))
      figures[name] = spread(runs.map((s) => read(s.result)));
    if (row.kind !== "direct") {
      for (const [name, [kind, ratio]] of Object.entries(RATIOS)) {
        const peer = kind === "direct" ? "direct" : peerName(row, kind);
        if (peer === row.name) continue;
        figures[name] = spread(
          runs.map((s) => {
            const other = index.get(`${peer}|${cellKey(s)}|${s.round}`);
            return other ? ratio(s.result, other) : undefined;
          }),
        );
      }
    }
    return {
      name: row.name,
      kind: row.kind,
      layout: row.layout,
      features: row.features,
      workers: row.workers,
      size,
      connections,
      rounds: runs.length,
      errors: runs.reduce((n, s) => n + errorTotal(s.result), 0),
      figures,
    };
  });
}

function errorTotal(result) {
  const e = result.errors ?? {};
  return (e.connect ?? 0) + (e.read ?? 0) + (e.write ?? 0) + (e.status ?? 0) + (e.timeout ?? 0);
}
