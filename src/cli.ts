#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `palisade` executable; `cli/main.ts` is the command line, `cli/commands.ts` the commands.
 *
 * `--max-semi-space-size=8` (MiB): V8's young generation (two semi-spaces) otherwise
 * grows to 2 × 16 MiB during start-up and never gives it back; capped, an idle sidecar holds about 12 MiB less
 * and one after a load burst about 15–20 MiB less, at no CPU per request measurable here
 * (4 and below cost up to twice the CPU per request in one of two runs). The flag has to
 * be on the command line: `v8.setFlagsFromString` after start-up does not resize the heap.
 * The bin (and the image's ENTRYPOINT, which runs it) carries it; `node dist/cli.js` does not.
 */
import { runCli } from "./cli/main.js";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A command's own failures are answered in runCli; this is a bug in the dispatcher.
    const { stack, message } = err as Error;
    process.stderr.write(`palisade: ${stack ?? message}\n`);
    process.exitCode = 2;
  },
);
