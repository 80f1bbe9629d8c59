/**
 * `palisade inject -f FILE|- --tenants a,b [--config-map NAME] [--image IMAGE]` and
 * `palisade uninject -f FILE|-`: YAML in, YAML on stdout, one warning line on stderr per
 * pod left unchanged. Unparsable input is exit 2, and nothing is written to stdout.
 */
import { createReadStream } from "node:fs";
import { parseFlags, required, UsageError } from "../cli/flags.js";
import { packageVersion } from "../version.js";
import { optionProblems, type InjectOptions } from "./sidecar.js";
import { transform, UnusableInput } from "./transform.js";

/** Manifests are small; a bigger input is a mistake (or a YAML bomb), not a workload. */
const MAX_INPUT_BYTES = 32 * 1024 ** 2;

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    filename: { type: "string", short: "f" },
    tenants: { type: "string" },
    "config-map": { type: "string", default: "palisade-config" },
    service: { type: "string" },
    image: { type: "string", default: `ghcr.io/palisade-mesh/palisade:${packageVersion()}` },
  });
  const file = required(values.filename, "-f, --filename");
  const options: InjectOptions = {
    image: values.image,
    configMap: values["config-map"],
    tenants: required(values.tenants, "--tenants").split(","),
    ...(values.service !== undefined ? { service: values.service } : {}),
  };
  const problems = optionProblems(options);
  if (problems.length > 0) throw new UsageError(problems.join("; "));
  return write("inject", await readInput(file), options);
}

export async function uninjectMain(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { filename: { type: "string", short: "f" } });
  return write("uninject", await readInput(required(values.filename, "-f, --filename")));
}

function write(command: string, text: string, options?: InjectOptions): number {
  let result;
  try {
    result = transform(text, options);
  } catch (err) {
    if (!(err instanceof UnusableInput)) throw err;
    process.stderr.write(`palisade ${command}: cannot parse the input: ${err.message}\n`);
    return 2;
  }
  for (const warning of result.warnings) {
    process.stderr.write(`palisade ${command}: warning: ${warning}\n`);
  }
  process.stdout.write(result.output);
  return 0;
}

async function readInput(file: string): Promise<string> {
  const input = file === "-" ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Stop reading at once: /dev/zero or a YAML bomb must not fill the memory first.
      if (size > MAX_INPUT_BYTES)
        throw new UsageError(`${file} is over ${MAX_INPUT_BYTES / 1024 ** 2} MiB`);
      chunks.push(chunk);
    }
  } finally {
    if (input !== process.stdin) input.destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}
