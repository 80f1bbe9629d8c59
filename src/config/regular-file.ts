/**
 * Files a config names (the config itself, CA bundles, certificates, keys) are read only when
 * they are regular files. A FIFO or a device may never end: a read of one holds a libuv
 * thread for good, and Node cannot even exit while one is blocked. Opened non-blocking and
 * checked on the open descriptor, so a file swapped for a FIFO between a check and the
 * read is still refused.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Why a FIFO, device or directory named by the config is refused without being read. */
export const NOT_A_REGULAR_FILE = "not a regular file";

export async function readRegularFile(path: string): Promise<string> {
  return (await readRegularFileBytes(path)).toString("utf8");
}

/** The raw bytes, for files that are keys rather than text (`projection.hashKeyFile`). */
export async function readRegularFileBytes(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${NOT_A_REGULAR_FILE}: ${path}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
