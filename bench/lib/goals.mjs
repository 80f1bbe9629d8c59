/**
 * The goals, read from the summarised cells: all at 1 KiB, Palisade in the
 * single-process layout with every feature on. A goal is met when the median across
 * rounds meets it; the verdict says whether every round did, because a median of three
 * noisy rounds that lands just inside a bar is weaker than a spread that clears it.
 */

/** `{ id, goal, row, connections, figure, op, bar, unit }`; `row` may carry a worker count. */
export function goalSpecs(workerCounts = [1]) {
  const specs = [
    {
      id: "p50-c1",
      goal: "p50 at 1 connection ≤ 1.0× the bare Node pair's (single process)",
      row: "palisade-1p",
      connections: 1,
      figure: "p50VsBare",
      op: "<=",
      bar: 1.0,
      unit: "×",
    },
    {
      id: "rps-c32",
      goal: "req/s at 32 connections ≥ 1.0× the bare Node pair's (single process)",
      row: "palisade-1p",
      connections: 32,
      figure: "rpsVsBare",
      op: ">=",
      bar: 1.0,
      unit: "×",
    },
    {
      id: "p99-added-c1",
      goal: "p99 added over direct at 1 connection ≤ 0.3 ms (Istio: 0.298 ms for two Envoys)",
      row: "palisade-1p",
      connections: 1,
      figure: "addedP99Ms",
      op: "<=",
      bar: 0.3,
      unit: " ms",
    },
  ];
  for (const workers of workerCounts) {
    const suffix = workers > 1 ? `-w${workers}` : "";
    specs.push({
      id: `nginx-c32${suffix}`,
      goal: `req/s at 32 connections ≥ 0.5× nginx's with the same cores (${workers} worker${workers > 1 ? "s" : ""} each)`,
      row: `palisade-1p${suffix}`,
      connections: 32,
      figure: "rpsVsNginx",
      op: ">=",
      bar: 0.5,
      unit: "×",
    });
  }
  return specs;
}

/** Each goal with its measured spread and a verdict. `cells` come from `summarize`. */
export function evaluateGoals(cells, workerCounts = [1], failures = []) {
  return goalSpecs(workerCounts).map((spec) => {
    const cell = cells.find(
      (c) => c.name === spec.row && c.size === "small" && c.connections === spec.connections,
    );
    const measured = cell?.figures[spec.figure];
    if (!measured) {
      const why = failures.find((f) => f.target === spec.row)?.error;
      return { ...spec, verdict: why ? `not measured: ${why}` : "not measured" };
    }
    const meets = (x) => (spec.op === "<=" ? x <= spec.bar : x >= spec.bar);
    const everyRound = measured.values.every(meets);
    if (measured.values.length < 2)
      return {
        ...spec,
        measured,
        verdict: `${meets(measured.median) ? "met" : "missed"} in the only round (one round is not a result)`,
      };
    const verdict = meets(measured.median)
      ? everyRound
        ? "met (every round)"
        : "met at the median, not in every round"
      : measured.values.some(meets)
        ? "missed at the median (met in some rounds)"
        : "missed (every round)";
    return { ...spec, measured, verdict };
  });
}
