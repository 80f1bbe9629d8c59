/**
 * Reads a config, and every certificate, key and CA file it names, only once they have
 * stopped changing. A file written in two steps (not an atomic rename) can parse and
 * validate halfway through: a grant whose `fields:` has not been written yet shares a
 * whole document. So a reload takes the bytes only when a second read, a settle interval
 * after the first, finds the same bytes, size and mtime in every file; otherwise it reads
 * again, a bounded number of times, and gives up rather than apply a moving target.
 */
import { resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { referencedFiles, type Generation } from "./generation.js";
import { ConfigError, loadedFromText, type LoadedConfig } from "./load.js";
import { readRegularFile, readRegularFileSync } from "./regular-file.js";
import { mapBounded, TENANT_READ_CONCURRENCY } from "./bounded.js";

/** Files read at once on a reload: three per tenant, as the loader reads them. */
const FILE_READ_CONCURRENCY = 3 * TENANT_READ_CONCURRENCY;

/** Long enough for a two-step write by an editor or a script; short for a reload. */
export const DEFAULT_SETTLE_MS = 300;
/** Reads compared before a reload gives up on a file that keeps changing. */
export const MAX_SETTLE_ROUNDS = 20;

/** The config kept changing for every round; the running generation stays. */
export class ConfigUnsettledError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}; not applied, the next change or SIGHUP retries`);
    this.name = "ConfigUnsettledError";
  }
}

interface FileState {
  /** The bytes as text, or the read error's message. */
  text: string;
  readable: boolean;
  size: number;
  mtimeMs: number;
}

/** Every file of one read, keyed by absolute path; the config file is first. */
type Snapshot = Map<string, FileState>;

export interface SettledConfig {
  loaded: LoadedConfig;
  /** The settled bytes of a referenced file (for lint), read from disk if not one of them. */
  readText: (path: string) => Promise<string>;
  /** True when `generation` was built from exactly the settled bytes. */
  builtFrom(generation: Generation): boolean;
}

export async function readSettledConfig(
  file: string,
  opts: {
    settleMs: number;
    maxRounds?: number;
    /** Checked after every wait: a draining sidecar stops settling at once. */
    cancelled?: () => boolean;
  },
): Promise<SettledConfig> {
  const rounds = opts.maxRounds ?? MAX_SETTLE_ROUNDS;
  let before = await snapshot(file);
  for (let round = 0; round < rounds; round++) {
    await delay(opts.settleMs);
    if (opts.cancelled?.()) throw new ConfigUnsettledError(resolve(file), "reload cancelled");
    const after = await snapshot(file);
    if (sameSnapshot(before.files, after.files)) return settled(after);
    before = after;
  }
  throw new ConfigUnsettledError(
    resolve(file),
    `still changing after ${rounds} reads ${opts.settleMs} ms apart`,
  );
}

interface Read {
  files: Snapshot;
  loaded?: LoadedConfig;
  /** Why the config could not be read or parsed (reported only once it has settled). */
  error?: Error;
}

/**
 * The config file, parsed if it parses, then every file it names. A config that does not
 * parse yet may be half-written: it is compared like any other, and its error is only
 * reported once it has settled.
 */
async function snapshot(file: string): Promise<Read> {
  const path = resolve(file);
  const own = await readState(path);
  const files: Snapshot = new Map([[path, own]]);
  if (!own.readable) return { files, error: new ConfigError(path, [`cannot read: ${own.text}`]) };
  let loaded: LoadedConfig;
  try {
    loaded = loadedFromText(path, own.text);
  } catch (err) {
    return { files, error: err as Error };
  }
  const others = referencedFiles(loaded).filter((p) => p !== path);
  const states = await mapBounded(others, FILE_READ_CONCURRENCY, readState);
  others.forEach((p, i) => files.set(p, states[i] as FileState));
  return { files, loaded };
}

function readState(path: string): Promise<FileState> {
  try {
    // The descriptor's stat is taken before the read: a write that lands during it changes
    // the next round's stat. Only regular files are read: see config/regular-file.ts.
    const { bytes, stats } = readRegularFileSync(path);
    return Promise.resolve({
      text: bytes.toString("utf8"),
      readable: true,
      size: stats.size,
      mtimeMs: stats.mtimeMs,
    });
  } catch (err) {
    return Promise.resolve({
      text: (err as Error).message,
      readable: false,
      size: -1,
      mtimeMs: -1,
    });
  }
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [path, x] of a) {
    const y = b.get(path);
    if (y === undefined) return false;
    if (x.readable !== y.readable || x.text !== y.text) return false;
    if (x.size !== y.size || x.mtimeMs !== y.mtimeMs) return false;
  }
  return true;
}

function settled(read: Read): SettledConfig {
  if (!read.loaded) throw read.error as Error;
  const { loaded, files } = read;
  const textOf = (path: string) => files.get(resolve(loaded.baseDir, path))?.text;
  return {
    loaded,
    readText: (path) => {
      const state = files.get(path);
      if (state === undefined) return readRegularFile(path);
      return state.readable ? Promise.resolve(state.text) : Promise.reject(new Error(state.text));
    },
    builtFrom: (generation) =>
      generation.loaded.text === loaded.text &&
      sameHashKey(generation, textOf) &&
      [...generation.tenants.values()].every((t) => {
        const config = loaded.config.tenants[t.id];
        return (
          config !== undefined &&
          textOf(config.ca) === t.caPem &&
          textOf(config.cert) === t.certPem &&
          textOf(config.key) === t.keyPem
        );
      }),
  };
}

/** The key the generation read is the settled one (both decoded alike, for comparison only). */
function sameHashKey(
  generation: Generation,
  textOf: (path: string) => string | undefined,
): boolean {
  const file = generation.config.projection.hashKeyFile;
  if (file === undefined) return true;
  return generation.hashKey?.toString("utf8") === textOf(file);
}
