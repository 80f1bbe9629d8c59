/**
 * node-forge mints the development PKI and nothing else: `palisade run` must never load it
 * (certificates are inspected from DER with `node:crypto` and `@peculiar/asn1-x509`). The
 * real CLI runs as a child with a preload that records every package it loaded; `certs init`
 * under the same recorder is the control that proves the recorder sees node-forge at all.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { eventually } from "./support/eventually.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RECORDER = fileURLToPath(new URL("./support/record-packages.mjs", import.meta.url));
/** Generous: a child that hangs is killed well inside the test's own timeout. */
const CHILD_WITHIN_MS = 30_000;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-no-forge-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Recorded {
  code: number | null;
  stdout: string;
  stderr: string;
  packages: string[];
}

/**
 * `palisade <args>` from source, recording loaded packages. With `until`, the child is sent
 * SIGTERM once its stdout says so (a sidecar runs until told to stop).
 */
async function recordCli(name: string, args: string[], until?: string): Promise<Recorded> {
  const record = join(dir, `${name}.json`);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--import", RECORDER, "src/cli.ts", ...args],
    {
      cwd: ROOT,
      env: { ...process.env, PALISADE_RECORD_PACKAGES: record },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = once(child, "exit");
  const killer = setTimeout(() => child.kill("SIGKILL"), CHILD_WITHIN_MS);
  try {
    if (until !== undefined) {
      let done = false;
      void exited.then(() => (done = true));
      await eventually(() => stdout.includes(until) || done, until, CHILD_WITHIN_MS);
      child.kill("SIGTERM");
    }
    const [code] = (await exited) as [number | null];
    const packages = JSON.parse(await readFile(record, "utf8")) as string[];
    return { code, stdout, stderr, packages };
  } finally {
    clearTimeout(killer);
  }
}

describe("node-forge stays out of `palisade run`", () => {
  it("certs init loads it (the recorder sees it); run, serving that PKI, does not", async () => {
    const pki = join(dir, "pki");
    const init = await recordCli("init", [
      "certs",
      "init",
      "--out",
      pki,
      "--tenants",
      "acme",
      "--services",
      "orders",
      "--days",
      "60",
    ]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.packages).toContain("node-forge");

    const config = join(dir, "palisade.yaml");
    await writeFile(
      config,
      stringify({
        service: "orders",
        trustDomain: "mesh.local",
        // Never contacted: no request is made.
        inbound: {
          listen: "127.0.0.1:0",
          app: "http://127.0.0.1:9",
          target: { path: "/t/{tenant}/**" },
        },
        outbound: { listen: "127.0.0.1:0", upstreams: {} },
        admin: { listen: "127.0.0.1:0" },
        tenants: {
          acme: {
            ca: join(pki, "acme", "ca.crt"),
            cert: join(pki, "acme", "orders.crt"),
            key: join(pki, "acme", "orders.key"),
          },
        },
      }),
    );
    const run = await recordCli("run", ["run", "-c", config], '"msg":"palisade started"');
    expect(run.stdout, run.stderr).toContain('"msg":"stopped"');
    // The certificate inspector ran, from DER, without node-forge.
    expect(run.packages).toContain("@peculiar/asn1-x509");
    expect(run.packages).not.toContain("node-forge");
    // Tracing is off in this config: the OpenTelemetry SDK and propagators stay unloaded.
    expect(
      run.packages.filter((p) => p.startsWith("@opentelemetry/") && p !== "@opentelemetry/api"),
    ).toEqual([]);
  });
});
