#!/usr/bin/env node
/** The `palisade` executable; `cli/main.ts` is the command line, `cli/commands.ts` the commands. */
import { runCli } from "./cli/main.js";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    // Unusable input a command did not foresee (a missing file, a bad PKI directory): one
    // line, not a stack trace.
    const command = process.argv[2] ?? "";
    process.stderr.write(
      `palisade ${command}: ${err.message}\n`.replace("palisade : ", "palisade: "),
    );
    process.exitCode = 2;
  },
);
