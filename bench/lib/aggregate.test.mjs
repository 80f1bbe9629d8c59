/**
 * Ratios are taken within a round, then summarised across rounds; goals read the median
 * and say whether every round met the bar. Not part of `npm test`: `node --test bench/`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { summarize } from "./aggregate.mjs";
import { evaluateGoals } from "./goals.mjs";
import { planRows } from "./rows.mjs";

const rows = Object.fromEntries(
  planRows({ kinds: ["direct", "palisade", "bare"], layouts: ["1p"], features: ["on"] }).map(
    (r) => [r.name, r],
  ),
);
const result = (rps, p50Ms, p99Ms, cpu) => ({
  rps,
  p50Ms,
  p99Ms,
  requests: 1000,
  errors: {},
  cpuUsPerRequest: { proxies: cpu },
});
const sample = (name, round, r) => ({
  row: rows[name],
  size: "small",
  connections: 1,
  round,
  result: r,
});

test("a ratio pairs rows of the same round, not medians of different rounds", () => {
  // Round 2 is twice as slow for both rows: the ratio is 0.5 in each round.
  const samples = [
    sample("direct", 1, result(10000, 0.1, 0.2)),
    sample("palisade-1p", 1, result(1000, 1.0, 2.0, 300)),
    sample("bare-1p", 1, result(2000, 0.5, 1.0, 150)),
    sample("direct", 2, result(10000, 0.1, 0.3)),
    sample("palisade-1p", 2, result(500, 2.0, 4.0, 300)),
    sample("bare-1p", 2, result(1000, 1.0, 2.0, 150)),
  ];
  const cells = summarize(samples);
  const palisade = cells.find((c) => c.name === "palisade-1p");
  assert.deepEqual(palisade.figures.rpsVsBare.values, [0.5, 0.5]);
  assert.equal(palisade.figures.p50VsBare.median, 2);
  assert.equal(palisade.figures.cpuVsBare.max, 2);
  assert.deepEqual(
    palisade.figures.addedP99Ms.values.map((x) => +x.toFixed(2)),
    [1.8, 3.7],
  );
  assert.equal(palisade.figures.rps.min, 500);
  assert.equal(palisade.figures.rps.max, 1000);
  assert.equal(palisade.figures.rpsVsNginx, undefined);
  // The bare row has no ratio to itself.
  assert.equal(cells.find((c) => c.name === "bare-1p").figures.rpsVsBare, undefined);
  const goals = evaluateGoals(cells);
  assert.equal(goals.find((g) => g.id === "p50-c1").verdict, "missed (every round)");
  assert.match(goals.find((g) => g.id === "nginx-c32").verdict, /^not measured/);
});

test("a goal met at the median but not in every round says so", () => {
  const samples = [1, 2, 3].flatMap((round, i) => [
    sample("palisade-1p", round, result(1000, [0.9, 0.95, 1.2][i], 1)),
    sample("bare-1p", round, result(1000, 1.0, 1)),
  ]);
  const goal = evaluateGoals(summarize(samples)).find((g) => g.id === "p50-c1");
  assert.equal(goal.measured.median, 0.95);
  assert.equal(goal.verdict, "met at the median, not in every round");
});
