/**
 * `profile.mjs --startup N`: one sidecar starting with N tenants under `--cpu-prof`, spawn
 * → admin `/readyz` 200, then stopped so V8 writes the profile; prints its top functions.
 */
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTop, readProfile, selfTimes } from "./cpuprofile.mjs";
import { startSidecar, writeSidecarConfig } from "./palisade.mjs";
import { cachedPki } from "./pki.mjs";
import { guardChildren, stopAll } from "./processes.mjs";
import { requireBuild, ROOT } from "./session.mjs";

export async function profileStartup(count, log) {
  requireBuild();
  guardChildren();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = join(ROOT, "bench/results/profiles", `${stamp}-startup-${count}`);
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), "palisade-profile-startup-"));
  try {
    const pki = await cachedPki(count, ["orders"], { log });
    const config = await writeSidecarConfig(join(tmp, "orders.yaml"), {
      service: "orders",
      tenants: pki.tenants.slice(0, count),
      pkiDir: pki.dir,
      appPort: 9,
    });
    const sidecar = await startSidecar("palisade-startup", config, {
      nodeArgs: ["--cpu-prof", "--cpu-prof-dir", dir],
      cwd: tmp,
    });
    log(
      `${count} tenants: spawn → /readyz 200 in ${sidecar.startupMs.toFixed(0)} ms (profiling on)`,
    );
    const exit = await sidecar.proc.stop(30_000);
    if (exit.signal === "SIGKILL") throw new Error("the sidecar had to be killed; no profile");
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    log(`\n${formatTop(file.slice(ROOT.length + 1), selfTimes(await readProfile(file)), 25)}`);
  }
  return 0;
}
