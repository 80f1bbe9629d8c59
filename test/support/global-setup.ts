/**
 * Once per `vitest run`: mints the shared test PKI that `makePki` copies from, and removes
 * it afterwards. Workers are forked after this runs, so they inherit the variable.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintPki, SHARED_PKI_ENV, SHARED_SERVICES, SHARED_TENANTS } from "./pki.js";

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), "palisade-shared-pki-"));
  await mintPki(dir, SHARED_TENANTS, SHARED_SERVICES);
  process.env[SHARED_PKI_ENV] = dir;
  return async () => {
    delete process.env[SHARED_PKI_ENV];
    await rm(dir, { recursive: true, force: true });
  };
}
