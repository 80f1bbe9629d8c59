/**
 * `npm run fuzz [-- --seed N --iterations N --seconds N]`: one bounded fuzzing run; exit 1
 * on any invariant violation (each printed with the input that caused it).
 */
import { parseArgs } from "node:util";
import { runFuzz } from "./fuzz.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    iterations: { type: "string", default: "20000" },
    seconds: { type: "string", default: "120" },
  },
});
const summary = await runFuzz({
  seed: Number(values.seed),
  iterations: Number(values.iterations),
  seconds: Number(values.seconds),
  progress: (line) => process.stderr.write(`${line}\n`),
});
// Wire-layer findings first: they are what a peer could do to a running sidecar.
const ordered = [...summary.violations].sort(
  (a, b) => Number(a.startsWith("route")) - Number(b.startsWith("route")),
);
for (const violation of ordered.slice(0, 100)) process.stdout.write(`violation: ${violation}\n`);
const { violations, ...figures } = summary;
process.stdout.write(`${JSON.stringify({ ...figures, violations: violations.length })}\n`);
process.exitCode = violations.length > 0 ? 1 : 0;
