/**
 * Watches the files a config generation was built from, the way Kubernetes updates them:
 * a mounted ConfigMap or Secret is a directory whose entries are symlinks through `..data`,
 * and an update swaps `..data` to a new timestamped directory in one rename. The files'
 * own inodes never change, so a watch on a file would miss it; a watch on the directory
 * holding `..data` sees the swap, and a watch on each file's directory sees plain edits.
 * Certificates may live on other mounts than the config, so every referenced file counts.
 * Events are filtered to the names that matter and debounced, so one update is one reload.
 */
import { existsSync, realpathSync, watch, type FSWatcher } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

export interface ConfigWatcher {
  /**
   * Watches the directories of `files` (and the mount roots above them); drops watches no
   * longer needed, and renews those whose directory was replaced under the same path.
   */
  resync(files: Iterable<string>): void;
  /** Directories being watched, for logs and tests. */
  readonly directories: readonly string[];
  close(): void;
}

interface DirWatch {
  watcher: FSWatcher;
  /** Where the path led when the watch was made: a swapped symlink makes a new watch. */
  real: string;
  /** Entry names in this directory whose change means a referenced file may have changed. */
  names: Set<string>;
}

/** How far above a file to look for a Kubernetes mount root (`..data`). */
const MAX_MOUNT_DEPTH = 4;

export function watchConfig(
  files: Iterable<string>,
  onChange: () => void,
  options: { debounceMs?: number; onError?: (dir: string, err: Error) => void } = {},
): ConfigWatcher {
  const debounceMs = options.debounceMs ?? 250;
  const watches = new Map<string, DirWatch>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, debounceMs);
  };

  const open = (dir: string, real: string, names: Set<string>): DirWatch | undefined => {
    try {
      const entry: DirWatch = { watcher: watch(dir, { persistent: false }), real, names };
      // Typed non-null, but null where the platform gives no name.
      entry.watcher.on("change", (_event, filename: string | Buffer | null) => {
        const name = filename?.toString();
        // No name (some platforms), a `..data` swap, or one of our entries: reload.
        if (name === undefined || name.startsWith("..") || entry.names.has(name)) schedule();
      });
      entry.watcher.on("error", (err: Error) => {
        // The directory went away (volume remount): the next resync or SIGHUP recovers.
        entry.watcher.close();
        if (watches.get(dir) === entry) watches.delete(dir);
        options.onError?.(dir, err);
      });
      return entry;
    } catch (err) {
      options.onError?.(dir, err as Error);
      return undefined;
    }
  };

  const resync = (paths: Iterable<string>) => {
    if (closed) return;
    const wanted = directoriesFor(paths);
    for (const [dir, entry] of watches) {
      if (!wanted.has(dir)) {
        entry.watcher.close();
        watches.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const real = realPath(dir);
      const entry = watches.get(dir);
      if (entry && entry.real === real) {
        entry.names = names;
        continue;
      }
      entry?.watcher.close();
      watches.delete(dir);
      if (real === undefined) continue;
      const fresh = open(dir, real, names);
      if (fresh) watches.set(dir, fresh);
    }
  };

  resync(files);
  return {
    resync,
    get directories() {
      return [...watches.keys()];
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const entry of watches.values()) entry.watcher.close();
      watches.clear();
    },
  };
}

/**
 * Directory → the entry names under it that lead to a watched file: each file's own
 * directory (its base name), and the nearest ancestor holding `..data` (the first path
 * segment below it, e.g. `tls.crt` or `acme` for `acme/tls.crt`).
 */
function directoriesFor(files: Iterable<string>): Map<string, Set<string>> {
  const dirs = new Map<string, Set<string>>();
  const add = (dir: string, file: string) => {
    const name = relative(dir, file).split(sep)[0];
    if (name === undefined || name === "" || name === "..") return;
    let names = dirs.get(dir);
    if (!names) dirs.set(dir, (names = new Set()));
    names.add(name);
  };
  for (const file of files) {
    add(dirname(file), file);
    const root = mountRoot(file);
    if (root !== undefined) add(root, file);
  }
  return dirs;
}

function mountRoot(file: string): string | undefined {
  let dir = dirname(file);
  for (let depth = 0; depth < MAX_MOUNT_DEPTH; depth++) {
    if (existsSync(join(dir, "..data"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

function realPath(dir: string): string | undefined {
  try {
    return realpathSync(dir);
  } catch {
    return undefined;
  }
}
