/**
 * The `palisade` command line: finds the command, answers `--help` and `--version`, and
 * turns a `UsageError` into one line on stderr with exit 2. Exit codes: 0 ok, 1 findings or
 * leaks (and listeners that cannot bind), 2 usage or unusable input.
 */
import { COMMANDS, type Command } from "./commands.js";
import { UsageError } from "./flags.js";
import { packageVersion } from "../version.js";

const HELP = new Set(["--help", "-h", "help"]);

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Runs one command line and gives its exit code. Help and usage errors are written to `io`
 * (tests pass their own); a command's own output goes to the process's streams.
 */
export async function runCli(argv: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const say = (text: string) => {
    io.out(text);
    return 0;
  };
  /** One line (or a short list) on stderr, and the way to the help text: exit 2. */
  const fail = (command: string | undefined, message: string) => {
    const name = command ? `palisade ${command}` : "palisade";
    io.err(`${name}: ${message}\nRun '${name} --help' for usage.\n`);
    return 2;
  };

  const [first, second] = argv;
  if (first === undefined) return fail(undefined, `no command given\n\n${overview()}`);
  if (HELP.has(first)) return say(`${overview()}\n`);
  if (first === "--version" || first === "-v") return say(`${packageVersion()}\n`);
  const command = (second === undefined ? undefined : find(`${first} ${second}`)) ?? find(first);
  if (command) {
    const args = argv.slice(command.name.split(" ").length);
    if (args.some((a) => HELP.has(a) && a !== "help")) return say(helpOf(command));
    try {
      return await (await command.load()).main(args);
    } catch (err) {
      if (err instanceof UsageError) return fail(command.name, err.message);
      // Unusable input the command did not foresee (a missing file, a bad PKI directory):
      // one line naming the command, not a stack trace.
      io.err(`palisade ${command.name}: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length > 0 && (second === undefined || HELP.has(second))) {
    const text = group.map(helpOf).join("\n");
    return second === undefined ? fail(first, `which one?\n\n${text}`) : say(text);
  }
  const what = group.length > 0 ? `${first} ${String(second)}` : first;
  return fail(undefined, `unknown command ${JSON.stringify(what)}`);
}

function find(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
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
