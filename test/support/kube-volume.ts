/**
 * A ConfigMap or Secret volume laid out the way the kubelet's atomic writer does it: the
 * files in a timestamped `..<stamp>` directory, a `..data` symlink to it, and one symlink
 * per key (`tls.crt -> ..data/tls.crt`). An update writes a new timestamped directory,
 * renames a fresh `..data_tmp` symlink over `..data` (one atomic step), then removes the
 * old directory.
 */
import { mkdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";

let sequence = 0;

/** Writes (or swaps in) the volume's files; a key not yet linked gets its symlink. */
export async function projectVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = `..2026_12_01_18_00_00.${String(++sequence).padStart(9, "0")}`;
  await mkdir(join(dir, stamp));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, stamp, name), text);
  const data = join(dir, "..data");
  const previous = existsSync(data) ? await readlink(data) : undefined;
  await symlink(stamp, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), data);
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) await symlink(join("..data", name), join(dir, name));
  }
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}
