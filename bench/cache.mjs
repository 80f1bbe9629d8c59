/**
 * Cache hit path vs miss path through the single-process Palisade row (every feature on),
 * alone (run.mjs includes it too). Writes nothing; prints the table. See lib/cache.mjs for
 * what hit and miss mean here.
 *
 *   node bench/cache.mjs [--seconds 10] [--warmup 2] [--sizes small,large]
 */
import { parseArgs } from "node:util";
import { runCache } from "./lib/cache.mjs";
import { cacheTable } from "./lib/report.mjs";
import { exitWith, withSession } from "./lib/session.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    sizes: { type: "string", default: "small" },
  },
});
const log = (line) => process.stdout.write(`${line}\n`);

exitWith("cache bench", () =>
  withSession("cache-bench", async (ctx) => {
    const cache = await runCache({
      ctx,
      sizes: values.sizes.split(","),
      seconds: Number(values.seconds),
      warmup: Number(values.warmup),
      log,
    });
    log(`\n${cacheTable(cache)}\n\ninbound counters: ${JSON.stringify(cache.counters)}`);
    return 0;
  }),
);
