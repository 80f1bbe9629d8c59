/**
 * Palisade sidecars as the benchmark runs them: `node dist/cli.js run -c FILE`, one child
 * process each (its own event loop, like production), every listener on a free loopback
 * port. Lean by default (logs at warn, no access log, no tracer); `telemetry` replaces that
 * (see features.mjs). Ready means the admin `/readyz` answers 200.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { freePorts } from "./ports.mjs";
import { pkiPaths, TRUST_DOMAIN } from "./pki.mjs";
import { startProcess, waitForHttp } from "./processes.mjs";

const CLI = resolve(import.meta.dirname, "../../dist/cli.js");
const run = promisify(execFile);
export const TARGET_RULE = { path: "/tenants/{tenant}/**" };
/** The Node flags of the bin's `#!/usr/bin/env -S node …` line: a sidecar runs as installed. */
export function binNodeFlags() {
  const shebang = readFileSync(CLI, "utf8").split("\n", 1)[0];
  const flags = /^#!\/usr\/bin\/env -S node (.*)$/.exec(shebang)?.[1] ?? "";
  return flags.split(" ").filter(Boolean);
}

/**
 * Writes a sidecar config. `certService` is whose SVID the tenants' certificates are (the
 * sidecar's own service); `upstreams` maps a name to `{ port }` of a peer's inbound.
 * `target` replaces the path rule on both sides; `appProtocol` is the inbound app's.
 * `selfUpstream` names an upstream that is this sidecar's own inbound (the single-process
 * layout); `telemetry` replaces the lean telemetry; `concurrency` is set when given.
 */
export async function writeSidecarConfig(file, opts) {
  const [inbound, outbound, admin] = await freePorts(3);
  const tenants = Object.fromEntries(
    opts.tenants.map((t) => [t, pkiPaths(opts.pkiDir, t, opts.certService ?? opts.service)]),
  );
  const peers = { ...opts.upstreams };
  if (opts.selfUpstream) peers[opts.selfUpstream] = { port: inbound };
  const upstreams = Object.fromEntries(
    Object.entries(peers).map(([name, u]) => [
      name,
      {
        url: `https://127.0.0.1:${u.port}`,
        target: opts.target ?? TARGET_RULE,
        ...(u.service ? { service: u.service } : {}),
      },
    ]),
  );
  const config = {
    service: opts.service,
    trustDomain: TRUST_DOMAIN,
    inbound: {
      listen: `127.0.0.1:${inbound}`,
      app: `http://127.0.0.1:${opts.appPort}`,
      target: opts.target ?? TARGET_RULE,
      ...(opts.appProtocol ? { appProtocol: opts.appProtocol } : {}),
      ...(opts.inboundCache ? { cache: opts.inboundCache } : {}),
    },
    outbound: {
      listen: `127.0.0.1:${outbound}`,
      allowUnsignedTenant: opts.allowUnsignedTenant ?? false,
      upstreams,
    },
    admin: { listen: `127.0.0.1:${admin}` },
    // The default 0.0.0.0:15020 would collide between the pair; nothing here scrapes it.
    stats: { listen: "127.0.0.1:0" },
    tenants,
    telemetry: opts.telemetry ?? { logs: { level: "warn", access: false } },
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
  };
  await writeFile(file, stringify(config));
  return { file, ports: { inbound, outbound, admin } };
}

/** Spawns a sidecar and waits for readiness; `startupMs` is spawn → first `/readyz` 200. */
export async function startSidecar(name, config, { nodeArgs = [], cwd, timeoutMs = 120_000 } = {}) {
  const spawned = performance.now();
  const args = [...binNodeFlags(), ...nodeArgs, CLI, "run", "-c", config.file];
  const proc = startProcess(name, process.execPath, args, { cwd });
  await waitForHttp(`http://127.0.0.1:${config.ports.admin}/readyz`, {
    proc,
    timeoutMs,
    intervalMs: 10,
  });
  return { proc, ports: config.ports, startupMs: performance.now() - spawned };
}

/**
 * The benchmark mesh: caller sidecar (`web`, outbound upstream `orders` → callee inbound,
 * unsigned tenant allowed) and callee sidecar (`orders`, inbound → app). `nodeArgs` is a
 * list, or `(side) => list` with side "caller" | "callee".
 */
export async function startPalisadePair(
  dir,
  {
    pkiDir,
    tenants,
    appPort,
    callerService = "web",
    inboundCache,
    nodeArgs,
    target,
    appProtocol,
    telemetry,
    concurrency,
  },
) {
  await mkdir(dir, { recursive: true });
  const calleeConfig = await writeSidecarConfig(join(dir, "orders.yaml"), {
    service: "orders",
    tenants,
    pkiDir,
    appPort,
    inboundCache,
    target,
    appProtocol,
    telemetry,
    concurrency,
  });
  const argsFor = (side) => (typeof nodeArgs === "function" ? nodeArgs(side) : (nodeArgs ?? []));
  const callee = await startSidecar("palisade-orders", calleeConfig, {
    nodeArgs: argsFor("callee"),
    cwd: dir,
  });
  const callerConfig = await writeSidecarConfig(join(dir, "web.yaml"), {
    service: callerService,
    tenants,
    pkiDir,
    appPort,
    allowUnsignedTenant: true,
    target,
    telemetry,
    concurrency,
    upstreams: { orders: { port: calleeConfig.ports.inbound } },
  });
  const caller = await startSidecar("palisade-web", callerConfig, {
    nodeArgs: argsFor("caller"),
    cwd: dir,
  });
  return { caller, callee, configs: { caller: callerConfig, callee: calleeConfig } };
}

/**
 * The single-process layout users run: ONE sidecar (service `orders`) whose outbound
 * upstream `orders` is its own inbound, over mTLS with the tenants' `orders` SVIDs, then
 * the app. Unsigned tenants are allowed on its outbound, as on the pair's caller.
 */
export async function startPalisadeSingle(
  dir,
  { pkiDir, tenants, appPort, inboundCache, nodeArgs = [], telemetry, concurrency },
) {
  await mkdir(dir, { recursive: true });
  const config = await writeSidecarConfig(join(dir, "orders.yaml"), {
    service: "orders",
    tenants,
    pkiDir,
    appPort,
    inboundCache,
    allowUnsignedTenant: true,
    selfUpstream: "orders",
    telemetry,
    concurrency,
  });
  const sidecar = await startSidecar("palisade-single", config, { nodeArgs, cwd: dir });
  return { sidecar, config };
}

let concurrencySupport;
/** Whether this build's config schema has the top-level `concurrency` key. */
export async function palisadeSupportsConcurrency() {
  // execFile, not startProcess: the schema outgrows the 64 KiB kept for error messages.
  concurrencySupport ??= run(process.execPath, [CLI, "schema"], {
    timeout: 30_000,
    maxBuffer: 16 * 1024 * 1024,
  }).then(({ stdout }) => Boolean(JSON.parse(stdout).properties?.concurrency));
  return concurrencySupport;
}
