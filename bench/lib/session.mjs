/**
 * What every benchmark script sets up before its rows: a built tree, child processes that
 * die with us, a temp dir, a one-tenant dev PKI, the app and the OTLP trace sink. All of
 * it is torn down when `fn` settles, whatever happened.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startApp } from "./app.mjs";
import { startTraceSink } from "./features.mjs";
import { makePki } from "./pki.mjs";
import { guardChildren, stopAll } from "./processes.mjs";
import { TENANT } from "./targets.mjs";

export const ROOT = resolve(import.meta.dirname, "../..");

export function requireBuild() {
  if (!existsSync(join(ROOT, "dist/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
}

/** Runs `fn(ctx)` with `ctx = { tmp, pkiDir, appPort, appPid, traceSink }`. */
export async function withSession(name, fn) {
  requireBuild();
  guardChildren();
  const tmp = await mkdtemp(join(tmpdir(), `palisade-${name}-`));
  let traceSink;
  try {
    const pkiDir = await makePki(join(tmp, "pki"), [TENANT], ["web", "orders"]);
    const app = await startApp();
    traceSink = await startTraceSink();
    return await fn({ tmp, pkiDir, appPort: app.port, appPid: app.proc.pid, traceSink });
  } finally {
    await stopAll();
    await traceSink?.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The exit of a benchmark script: the code `main` resolved with, or 1 after stopping children. */
export function exitWith(label, main) {
  main().then(
    (code) => process.exit(code),
    async (err) => {
      process.stderr.write(`${label}: ${err.stack ?? err.message}\n`);
      await stopAll();
      process.exit(1);
    },
  );
}
