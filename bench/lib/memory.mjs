/**
 * Memory and startup with N tenants (N = 10, 100, 1000, 10 000), in the two layouts:
 *
 * - single: ONE sidecar whose outbound upstream `orders` is its own inbound, as a pod
 *   calling a service of the same mesh through one Palisade;
 * - pair: a caller and a callee sidecar, each holding the N tenants.
 *
 * Per layout and N: startup (spawn → admin /readyz 200, median of 3 cold starts; one above
 * 1000 tenants, where the pair is left out to keep the run within minutes), then 2 s
 * idle: RSS (/proc/PID/status VmRSS), V8 heap used and external memory (the process's own
 * `nodejs_*` gauges, scraped after RSS is read); then a load burst spread round-robin over
 * all N tenants (each gets a pooled mTLS connection, an SNI context and metric children)
 * with RSS sampled for its peak, and the same three figures after it. Memory per idle
 * tenant is the slope of idle RSS between consecutive N of the single layout.
 *
 * Both sides are service `orders` so one leaf per tenant serves either (half the
 * signatures for the PKI); nothing on the request path depends on the service name.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { parse, stringify } from "yaml";
import { cpuSeconds, withCpu } from "./cpu.mjs";
import { runLoad } from "./load.mjs";
import { rssMiB } from "./machine.mjs";
import {
  binNodeFlags,
  startPalisadePair,
  startSidecar,
  TARGET_RULE,
  writeSidecarConfig,
} from "./palisade.mjs";
import { errorNote, median } from "./stats.mjs";

const SAMPLE_MS = 200;
const IDLE_MS = 2_000;
const STARTUP_TRIALS = 3;
/** Above this many tenants one cold start is the figure, and the pair is not measured. */
const LARGE = 1000;
const MiB = 1024 * 1024;

export async function runMemory({ counts, pki, ctx, seconds, warmup, log, nodeArgs = [] }) {
  const results = [];
  for (const count of counts) {
    const tenants = pki.tenants.slice(0, count);
    const dir = join(ctx.tmp, `memory-${count}`);
    const opts = { dir, tenants, pkiDir: pki.dir, ctx, seconds, warmup, nodeArgs };
    try {
      const single = await measureSingle(opts);
      const pair = count > LARGE ? undefined : await measurePair(opts);
      results.push({ tenants: count, single, pair });
      const pairNote = pair ? `; ${describe("pair callee", pair.callee)}` : "";
      log(`  ${count} tenants: ${describe("single", single)}${pairNote}`);
    } catch (err) {
      results.push({ tenants: count, error: err.message });
      log(`  ${count} tenants: FAILED: ${err.message}`);
    }
  }
  return {
    results,
    perTenant: perTenantSlopes(results),
    nodeFlags: [...binNodeFlags(), ...nodeArgs],
  };
}

/** One sidecar calling its own inbound: cold starts for a median, then idle and load. */
async function measureSingle({ dir, tenants, pkiDir, ctx, seconds, warmup, nodeArgs }) {
  await mkdir(dir, { recursive: true });
  const config = await writeSidecarConfig(join(dir, "single.yaml"), {
    service: "orders",
    tenants,
    pkiDir,
    appPort: ctx.appPort,
    allowUnsignedTenant: true,
  });
  await callOwnInbound(config);
  const startups = [];
  const startupCpu = [];
  let sidecar;
  for (let i = 0; i < (tenants.length > LARGE ? 1 : STARTUP_TRIALS); i++) {
    if (sidecar) await sidecar.proc.stop();
    // Ten thousand tenants take minutes to load on a busy two-core box.
    sidecar = await startSidecar("palisade-single", config, {
      cwd: dir,
      nodeArgs,
      timeoutMs: 900_000,
    });
    startups.push(sidecar.startupMs);
    // CPU to ready: unlike wall time, hardly moved by whatever else shares the cores.
    startupCpu.push((await cpuSeconds([sidecar.proc.pid])) * 1000);
  }
  try {
    const sides = { sidecar: { pid: sidecar.proc.pid, admin: config.ports.admin } };
    const url = `http://127.0.0.1:${config.ports.outbound}/`;
    const m = await idleThenLoad(sides, { url, tenants, ctx, seconds, warmup });
    return {
      startupMs: median(startups),
      startupTrialsMs: startups,
      startupCpuMs: median(startupCpu),
      ...m.sidecar,
      load: m.load,
    };
  } finally {
    await sidecar.proc.stop();
  }
}

/** The caller/callee pair: one start each (both counted), then idle and load. */
async function measurePair({ dir, tenants, pkiDir, ctx, seconds, warmup, nodeArgs }) {
  const pair = await startPalisadePair(dir, {
    pkiDir,
    tenants,
    appPort: ctx.appPort,
    callerService: "orders",
    nodeArgs,
  });
  try {
    const sides = {
      callee: { pid: pair.callee.proc.pid, admin: pair.configs.callee.ports.admin },
      caller: { pid: pair.caller.proc.pid, admin: pair.configs.caller.ports.admin },
    };
    const url = `http://127.0.0.1:${pair.caller.ports.outbound}/`;
    const m = await idleThenLoad(sides, { url, tenants, ctx, seconds, warmup });
    m.callee.startupMs = pair.callee.startupMs;
    m.caller.startupMs = pair.caller.startupMs;
    return m;
  } finally {
    await Promise.all([pair.caller.proc.stop(), pair.callee.proc.stop()]);
  }
}

/** The outbound upstream `orders` is this sidecar's own inbound listener. */
async function callOwnInbound(config) {
  const yaml = parse(await readFile(config.file, "utf8"));
  yaml.outbound.upstreams = {
    orders: { url: `https://127.0.0.1:${config.ports.inbound}`, target: TARGET_RULE },
  };
  await writeFile(config.file, stringify(yaml));
}

/** Idle figures per side, then a load burst over every tenant and the figures after it. */
async function idleThenLoad(sides, { url, tenants, ctx, seconds, warmup }) {
  await sleep(IDLE_MS);
  const out = {};
  for (const [name, side] of Object.entries(sides)) out[name] = { idle: await snapshot(side) };
  const peak = Object.fromEntries(Object.keys(sides).map((n) => [n, out[n].idle.rssMiB]));
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(SAMPLE_MS);
      for (const [name, side] of Object.entries(sides)) {
        const rss = await rssMiB(side.pid);
        if (rss !== undefined) peak[name] = Math.max(peak[name], rss);
      }
    }
  })();
  let load;
  try {
    const spec = {
      url,
      headers: { Host: "orders" },
      rotate: { tenants, path: "/tenants/{tenant}/small", header: "x-palisade-tenant" },
      connections: 32,
      threads: 2,
      tmpDir: ctx.tmp,
    };
    // The warmup opens per-tenant connections (an mTLS handshake each) and JITs.
    if (warmup > 0) await runLoad({ ...spec, seconds: warmup });
    const pids = Object.fromEntries(Object.entries(sides).map(([n, s]) => [n, [s.pid]]));
    load = await withCpu(pids, () => runLoad({ ...spec, seconds }));
  } finally {
    sampling = false;
    await sampler;
  }
  for (const [name, side] of Object.entries(sides)) {
    out[name].peakRssMiB = peak[name];
    out[name].afterLoad = await snapshot(side);
  }
  return { ...out, load };
}

/** RSS first (a scrape allocates), then the process's own heap and external gauges. */
async function snapshot({ pid, admin }) {
  const rss = await rssMiB(pid);
  const text = await (await request(`http://127.0.0.1:${admin}/metrics`)).body.text();
  const gauge = (name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, "m").exec(text);
    return m ? Number(m[1]) / MiB : undefined;
  };
  return {
    rssMiB: rss,
    heapUsedMiB: gauge("nodejs_heap_size_used_bytes"),
    heapTotalMiB: gauge("nodejs_heap_size_total_bytes"),
    externalMiB: gauge("nodejs_external_memory_bytes"),
  };
}

/** Bytes per idle tenant: slopes of the single layout's idle figures between consecutive N. */
function perTenantSlopes(results) {
  const ok = results.filter((r) => r.single);
  const slopes = [];
  for (let i = 1; i < ok.length; i++) {
    const [a, b] = [ok[i - 1], ok[i]];
    const per = (key) =>
      ((b.single.idle[key] - a.single.idle[key]) * MiB) / (b.tenants - a.tenants);
    slopes.push({
      from: a.tenants,
      to: b.tenants,
      rssBytes: per("rssMiB"),
      heapUsedBytes: per("heapUsedMiB"),
      externalBytes: per("externalMiB"),
    });
  }
  return slopes;
}

function describe(name, m) {
  const f = (x) => x?.toFixed(1);
  return (
    `${name} startup ${m.startupMs?.toFixed(0)} ms` +
    (m.startupCpuMs === undefined ? "" : ` (CPU ${m.startupCpuMs.toFixed(0)} ms)`) +
    `, idle RSS ${f(m.idle.rssMiB)} MiB ` +
    `(heap ${f(m.idle.heapUsedMiB)}, external ${f(m.idle.externalMiB)}), ` +
    `peak ${f(m.peakRssMiB)}, after load ${f(m.afterLoad.rssMiB)}` +
    (m.load ? `, ${Math.round(m.load.rps)} req/s${errorNote(m.load)}` : "")
  );
}
