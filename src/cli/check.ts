/**
 * `palisade check -c FILE [--format human|json]` and
 * `palisade check --diff OLD NEW [--deny-widening]`.
 */
import { oneOf, parseFlags, required, UsageError } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      config: { type: "string", short: "c" },
      format: { type: "string", default: "human" },
      diff: { type: "boolean", default: false },
      "deny-widening": { type: "boolean", default: false },
    },
    2,
  );
  if (values.diff) {
    const [before, after] = positionals;
    if (before === undefined || after === undefined) {
      throw new UsageError("--diff compares two configs: --diff OLD NEW");
    }
    if (values.config !== undefined) throw new UsageError("--diff takes OLD NEW, not -c");
    const { runCheckDiff } = await import("../policy/diff-command.js");
    return runCheckDiff(before, after, { denyWidening: values["deny-widening"] });
  }
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  }
  if (values["deny-widening"]) throw new UsageError("--deny-widening goes with --diff");
  const file = required(values.config, "-c, --config");
  const format = oneOf(values.format, "--format", ["human", "json"] as const);
  const { runCheck } = await import("../check.js");
  return runCheck(file, format);
}
