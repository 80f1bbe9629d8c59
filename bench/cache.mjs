/**
 * Cache hit path vs miss path through the Palisade pair, alone (run.mjs includes it too).
 * Writes nothing; prints the table. See lib/cache.mjs for what hit and miss mean here.
 *
 *   node bench/cache.mjs [--seconds 10] [--warmup 2]
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startApp } from "./lib/app.mjs";
import { runCache } from "./lib/cache.mjs";
import { makePki } from "./lib/pki.mjs";
import { guardChildren, stopAll } from "./lib/processes.mjs";
import { cacheTable } from "./lib/report.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
  },
});
const log = (line) => process.stdout.write(`${line}\n`);

async function main() {
  if (!existsSync(join(ROOT, "dist/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
  guardChildren();
  const tmp = await mkdtemp(join(tmpdir(), "palisade-cache-bench-"));
  try {
    const pkiDir = await makePki(join(tmp, "pki"), ["acme"], ["web", "orders"]);
    const app = await startApp();
    const cache = await runCache({
      ctx: { tmp, pkiDir, appPort: app.port, appPid: app.proc.pid },
      seconds: Number(values.seconds),
      warmup: Number(values.warmup),
      log,
    });
    log(`\n${cacheTable(cache)}\n\ncallee counters: ${JSON.stringify(cache.counters)}`);
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`cache bench: ${err.stack ?? err.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
