/**
 * `palisade check --diff OLD NEW [--deny-widening]`: prints the lines of diff.ts, then a
 * `#` summary. Exit 0; 1 with `--deny-widening` when any line opens a path (for CI);
 * 2 when either file cannot be read, parsed or validated (the message names the file and
 * the key path). Only the policy is compared: certificates are not read, so a reviewer can
 * run it on a pull request without the cluster's secrets.
 */
import { ConfigError, loadConfigFile } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { compileGrants, GrantConfigError } from "../tenancy/grants.js";
import { diffPolicies, renderLine } from "./diff.js";

export interface DiffOptions {
  denyWidening: boolean;
  now?: Date;
  out?: { write(text: string): unknown };
  err?: { write(text: string): unknown };
}

export async function runCheckDiff(
  oldFile: string,
  newFile: string,
  options: DiffOptions,
): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  let configs: [Config, Config];
  try {
    configs = [await policyOf(oldFile), await policyOf(newFile)];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err.write(`palisade check --diff: ${error.message}\n`);
    return 2;
  }
  const diff = diffPolicies(configs[0], configs[1], options.now ?? new Date());
  const widening = diff.lines.filter((l) => l.opens).length;
  const summary = `# ${widening} widening, ${diff.lines.length - widening} narrowing or covered`;
  out.write([...diff.lines.map(renderLine), summary].map((l) => `${l}\n`).join(""));
  return options.denyWidening && diff.widens ? 1 : 0;
}

/**
 * The validated config, with its grants compiled as `run` would (globs, projections): a
 * grant the table would refuse is an unusable config here too, named by its key path.
 */
async function policyOf(file: string): Promise<Config> {
  const { config, file: path } = await loadConfigFile(file);
  try {
    // Masks are judged, not computed: a stand-in key when a key file is configured.
    const hashKey = config.projection.hashKeyFile === undefined ? undefined : Buffer.alloc(32);
    compileGrants(config.grants, { hashKey });
  } catch (error) {
    if (error instanceof GrantConfigError) throw new ConfigError(path, [error.message]);
    throw error;
  }
  return config;
}
