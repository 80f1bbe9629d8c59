/**
 * The one decision on whether a config may run, shared by `palisade check`, `palisade run`
 * and every reload, so that what check calls an error can never be running. A config can
 * validate and still break isolation (two tenants under one CA, a grant that opens a whole
 * tenant): lint errors refuse it. Then the loader has the last word (a grant the table
 * refuses, a key TLS cannot use), reported as a finding like the others. Warnings never
 * refuse.
 */
import { buildGeneration, type Generation } from "./generation.js";
import type { LoadedConfig } from "./load.js";
import { ConfigUnsettledError, readSettledConfig } from "./settle.js";
import { describeFinding, isError, lintAndInspect, type Finding, type LintInput } from "./lint.js";

/** A config with error findings; the running generation (if any) stays. */
export class ConfigRefusedError extends Error {
  constructor(
    /** The refused config: the files it names are watched, they may be on their way. */
    readonly loaded: LoadedConfig,
    /** Every finding, errors first; at least one is an error. */
    readonly findings: Finding[],
  ) {
    super(`${loaded.file}: refused: ${findings.filter(isError).map(describeFinding).join("; ")}`);
    this.name = "ConfigRefusedError";
  }
}

export interface Admitted {
  generation: Generation;
  /** Warnings only (any error would have refused the config). */
  findings: Finding[];
}

export async function admitConfig(
  loaded: LoadedConfig,
  opts: { id: number; now: Date; readText?: LintInput["readText"] },
): Promise<Admitted> {
  const { findings, inspected } = await lintAndInspect({
    config: loaded.config,
    baseDir: loaded.baseDir,
    now: opts.now,
    ...(opts.readText ? { readText: opts.readText } : {}),
  });
  if (findings.some(isError)) throw new ConfigRefusedError(loaded, findings);
  try {
    // Built from what lint read, parsed and judged: each file is read and parsed once.
    const generation = await buildGeneration(loaded, opts.id, opts.now, process.env, inspected);
    return { generation, findings };
  } catch (err) {
    throw new ConfigRefusedError(loaded, [loaderRefusal(err as Error), ...findings]);
  }
}

/** Rereads when the files changed between the settled read and the loader's own read. */
const MAX_ADMIT_ATTEMPTS = 3;

/**
 * A reload: the config and its files once they have settled (config/settle.ts), admitted,
 * and built from exactly the settled bytes. The loader reads certificate files itself; if
 * they moved after settling, everything is read again.
 */
export async function admitSettledConfig(
  file: string,
  opts: { id: number; now: Date; settleMs: number; cancelled?: () => boolean },
): Promise<Admitted> {
  const { id, now, ...settle } = opts;
  for (let attempt = 1; ; attempt++) {
    const settled = await readSettledConfig(file, settle);
    const admitted = await admitConfig(settled.loaded, { id, now, readText: settled.readText });
    if (settled.builtFrom(admitted.generation)) return admitted;
    if (attempt === MAX_ADMIT_ATTEMPTS)
      throw new ConfigUnsettledError(settled.loaded.file, "files changed while loading");
  }
}

/**
 * What the loader refused, as a finding. Lint knows more than the loader (which stops at
 * its first problem) but not everything, so a config lint passes can still fail here.
 * TenantMaterialError and GrantConfigError name the key path and repeat it in the message.
 */
function loaderRefusal(err: Error): Finding {
  const keyPath = (err as { keyPath?: unknown }).keyPath;
  const path = typeof keyPath === "string" ? keyPath : null;
  const message =
    path !== null && err.message.startsWith(`${path}: `)
      ? err.message.slice(path.length + 2)
      : err.message;
  return { level: "error", rule: "config_refused", message, path };
}
