/** `palisade check -c FILE [--format human|json]`. */
import { oneOf, parseFlags, required } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    config: { type: "string", short: "c" },
    format: { type: "string", default: "human" },
  });
  const file = required(values.config, "-c, --config");
  const format = oneOf(values.format, "--format", ["human", "json"] as const);
  const { runCheck } = await import("../check.js");
  return runCheck(file, format);
}
