#!/usr/bin/env node
/**
 * The `palisade` command. Exit codes: 0 ok, 1 findings or leaks (and listeners that cannot
 * bind), 2 usage or unusable input. Help goes to stdout with exit 0; a usage error is one
 * line on stderr naming the command and how to get its help.
 */
import { COMMANDS, type Command } from "./cli/commands.js";
import { UsageError } from "./cli/flags.js";
import { packageVersion } from "./version.js";

const HELP = new Set(["--help", "-h", "help"]);

async function main(argv: string[]): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) return fail(undefined, `no command given\n\n${overview()}`);
  if (HELP.has(first)) return say(`${overview()}\n`);
  if (first === "--version" || first === "-v") return say(`${packageVersion()}\n`);
  const command = find(`${first} ${second}`) ?? find(first);
  if (command) {
    const args = argv.slice(command.name.split(" ").length);
    if (args.some((a) => HELP.has(a) && a !== "help")) return say(helpOf(command));
    return command.main(args);
  }
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length > 0 && (second === undefined || HELP.has(second))) {
    const text = group.map(helpOf).join("\n");
    return second === undefined ? fail(first, `which one?\n\n${text}`) : say(text);
  }
  const what = group.length > 0 ? `${first} ${second}` : first;
  return fail(undefined, `unknown command ${JSON.stringify(what)}`);
}

interface Runnable extends Command {
  main(args: string[]): Promise<number>;
}

function find(name: string): Runnable | undefined {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return undefined;
  return {
    ...command,
    main: async (args) => {
      try {
        return await (await command.load()).main(args);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        return fail(command.name, err.message);
      }
    },
  };
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "usage: palisade <command> [flags]",
    "",
    "Palisade: a tenant-isolation sidecar (per-tenant mTLS, grants, partitioned caches).",
    "",
    "commands:",
    ...lines,
    "",
    "  --help, -h     this text; palisade <command> --help: that command's",
    "  --version, -v  the version",
    "",
    "Exit codes: 0 ok, 1 findings or leaks, 2 usage or unusable input.",
  ].join("\n");
}

function helpOf(command: Command): string {
  return `usage: ${command.usage}\n`;
}

function say(text: string): number {
  process.stdout.write(text);
  return 0;
}

/** One line (or a short list) on stderr, and the way to the help text: exit 2. */
function fail(command: string | undefined, message: string): number {
  const name = command ? `palisade ${command}` : "palisade";
  process.stderr.write(`${name}: ${message}\nRun '${name} --help' for usage.\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    // Unusable input the command did not foresee (a missing file, a bad PKI directory):
    // one line, not a stack trace.
    const command = process.argv[2] ?? "";
    process.stderr.write(
      `palisade ${command}: ${err.message}\n`.replace("palisade : ", "palisade: "),
    );
    process.exitCode = 2;
  },
);
