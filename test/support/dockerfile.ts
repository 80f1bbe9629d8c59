/**
 * Just enough of Docker's build semantics to test the Dockerfile without an engine:
 * instructions (comments and `\` continuations handled), stages, `.dockerignore` matching
 * (last matching pattern wins, `!` re-includes, a pattern matching a directory covers what
 * is under it), and a build context made from the repository's files.
 */
import { execFileSync } from "node:child_process";

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === "FROM") {
      const [from = "", as, name] = args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${keyword} before FROM`);
      stage.instructions.push({ keyword: upper, args });
    }
  }
  return stages;
}

/** `--from=build a b dest` → { from: "build", sources: [a, b], dest }. */
export function parseCopy(args: string): {
  from: string | undefined;
  sources: string[];
  dest: string;
} {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

interface Rule {
  regex: RegExp;
  include: boolean;
}

export function parseDockerignore(text: string): Rule[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const include = line.startsWith("!");
      const pattern = (include ? line.slice(1) : line).replace(/^\/+/, "").replace(/\/+$/, "");
      return { regex: globRegex(pattern), include };
    });
}

function globRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      // `**/` matches zero or more directories; a trailing `**` anything.
      out += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** Whether `path` (relative, `/`-separated) is in the build context. */
export function inContext(rules: readonly Rule[], path: string): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let included = true;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.regex.test(p))) included = rule.include;
  }
  return included;
}

/**
 * The repository's files as a build context would see them: tracked and untracked files
 * (git's ignores are no part of it, but `.dockerignore` starts with `**`, so whatever git
 * ignores is outside the allow-list anyway), filtered by `.dockerignore`.
 */
export function contextFiles(root: string, rules: readonly Rule[]): string[] {
  const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
  });
  return out
    .split("\n")
    .filter((f) => f !== "")
    .filter((f) => inContext(rules, f));
}
