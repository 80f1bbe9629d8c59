#!/usr/bin/env node
/** The `palisade` executable; `cli/main.ts` is the command line, `cli/commands.ts` the commands. */
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
