/**
 * CPU profiles. Default: the Palisade row — both sidecars run with `--cpu-prof` under the
 * throughput load (`-t2 -c32`, 1 KiB), then stop gracefully so V8 writes the profiles to
 * bench/results/*.cpuprofile (git-ignored; open them in Chrome DevTools). Prints each
 * profile's time by area and its top self-time functions.
 *
 *   node bench/profile.mjs [--seconds 15] [--size small|large] [--connections 32]
 *                          [--target palisade|bare] [--cache]
 *   node bench/profile.mjs --startup 1000     one sidecar's start with N tenants, to /readyz
 *
 * The process's own start (module loading, config) is in every profile; a longer
 * `--seconds` makes it a smaller share.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startApp } from "./lib/app.mjs";
import { CACHE_ROUTE } from "./lib/cache.mjs";
import { formatTop, readProfile, selfTimes } from "./lib/cpuprofile.mjs";
import { runLoad } from "./lib/load.mjs";
import { startPalisadePair, startSidecar, writeSidecarConfig } from "./lib/palisade.mjs";
import { cachedPki, makePki } from "./lib/pki.mjs";
import { guardChildren, stopAll } from "./lib/processes.mjs";
import { errorNote } from "./lib/stats.mjs";
import { CLIENT_HEADERS, sanityCheck, TARGETS, TENANT } from "./lib/targets.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const RESULTS = join(ROOT, "bench/results");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    size: { type: "string", default: "small" },
    connections: { type: "string", default: "32" },
    target: { type: "string", default: "palisade" },
    cache: { type: "boolean", default: false },
    startup: { type: "string" },
    top: { type: "string", default: "20" },
  },
});
const log = (line) => process.stdout.write(`${line}\n`);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const profileArgs = (name) => [
  "--cpu-prof",
  "--cpu-prof-dir",
  RESULTS,
  "--cpu-prof-name",
  `${name}-${stamp}.cpuprofile`,
];

async function main() {
  if (!existsSync(join(ROOT, "dist/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
  if (values.target !== "palisade" && values.target !== "bare")
    throw new Error("--target is palisade or bare");
  guardChildren();
  await mkdir(RESULTS, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), "palisade-profile-"));
  const started = Date.now();
  try {
    if (values.startup) await profileStartup(tmp, Number(values.startup));
    else await profileLoad(tmp);
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
  const fresh = [];
  for (const name of await readdir(RESULTS)) {
    if (!name.endsWith(".cpuprofile")) continue;
    const file = join(RESULTS, name);
    if ((await stat(file)).mtimeMs >= started) fresh.push(file);
  }
  if (fresh.length === 0) throw new Error("no profile was written");
  for (const file of fresh.sort()) {
    const summary = selfTimes(await readProfile(file));
    log(`\n${formatTop(file.slice(ROOT.length + 1), summary, Number(values.top))}`);
  }
  return 0;
}

async function profileLoad(tmp) {
  const pkiDir = await makePki(join(tmp, "pki"), [TENANT], ["web", "orders"]);
  const app = await startApp();
  const ctx = { tmp, pkiDir, appPort: app.port, appPid: app.proc.pid };
  let running;
  if (values.target === "palisade") {
    const pair = await startPalisadePair(join(tmp, "palisade"), {
      pkiDir,
      tenants: [TENANT],
      appPort: app.port,
      nodeArgs: (side) => profileArgs(`palisade-${side}`),
      ...(values.cache ? { inboundCache: CACHE_ROUTE } : {}),
    });
    running = {
      url: `http://127.0.0.1:${pair.caller.ports.outbound}`,
      procs: [pair.caller.proc, pair.callee.proc],
    };
  } else {
    running = await TARGETS.bare.start({
      ...ctx,
      nodeArgs: ["--cpu-prof", "--cpu-prof-dir", RESULTS],
    });
  }
  await sanityCheck(values.target, running.url);
  const connections = Number(values.connections);
  const result = await runLoad({
    url: `${running.url}/tenants/${TENANT}/${values.size}`,
    headers: CLIENT_HEADERS,
    connections,
    threads: Math.min(2, connections),
    seconds: Number(values.seconds),
    tmpDir: tmp,
  });
  log(
    `${values.target} ${values.size} c${connections}: ${Math.round(result.rps)} req/s, ` +
      `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms${errorNote(result)}`,
  );
  await stopForProfiles(running.procs);
  await app.proc.stop();
}

async function profileStartup(tmp, count) {
  const pki = await cachedPki(count, ["orders"], { log });
  const config = await writeSidecarConfig(join(tmp, "orders.yaml"), {
    service: "orders",
    tenants: pki.tenants.slice(0, count),
    pkiDir: pki.dir,
    appPort: 9,
  });
  const sidecar = await startSidecar("palisade-startup", config, {
    nodeArgs: profileArgs(`palisade-startup-${count}`),
    cwd: tmp,
  });
  log(`${count} tenants: spawn → /readyz 200 in ${sidecar.startupMs.toFixed(0)} ms (profiling on)`);
  await stopForProfiles([sidecar.proc]);
}

/** SIGTERM: the processes drain and exit, and V8 writes the profiles on exit. */
async function stopForProfiles(procs) {
  const exits = await Promise.all(procs.map((p) => p.stop(30_000)));
  if (exits.some((e) => e.signal === "SIGKILL"))
    log("warning: a process had to be killed; its profile may be missing");
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`profile: ${err.stack ?? err.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
