/**
 * Watches a mounted config file the way Kubernetes updates it: the directory's `..data`
 * symlink is swapped atomically, so the file's own inode never changes and a watch on the
 * file alone would miss it. Watching the directory catches swaps and plain edits alike;
 * events are debounced so one update is one reload.
 */
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";

export interface ConfigWatcher {
  close(): void;
}

export function watchConfig(file: string, onChange: () => void, debounceMs = 250): ConfigWatcher {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    timer = undefined;
    onChange();
  };
  let watcher: FSWatcher | undefined = watch(dirname(file), { persistent: false }, () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  });
  watcher.on("error", () => {
    // The directory itself went away (volume remount); SIGHUP still reloads.
    watcher?.close();
    watcher = undefined;
  });
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
