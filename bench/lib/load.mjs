/**
 * Load generation: wrk when installed (preferred: C, tiny footprint on a shared box),
 * else autocannon in its own process. Both report requests/s and latency percentiles;
 * every run is bounded by its duration plus a margin, then killed.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runProcess } from "./processes.mjs";

const WRK = process.env.WRK ?? "/usr/bin/wrk";
const REPORT_LUA = resolve(import.meta.dirname, "report.lua");
const AUTOCANNON_RUNNER = resolve(import.meta.dirname, "../servers/autocannon-runner.mjs");

export function loadTool() {
  if (process.env.BENCH_LOAD === "autocannon") return "autocannon";
  return existsSync(WRK) ? "wrk" : "autocannon";
}

/**
 * One load run. `rotate` (optional) spreads requests over tenants:
 * `{ tenants, path: "/tenants/{tenant}/small", header: "x-palisade-tenant" }`.
 * Returns `{ rps, p50Ms, p90Ms, p99Ms, meanMs, maxMs, requests, errors, seconds }`.
 */
export async function runLoad({
  url,
  headers = {},
  connections,
  threads,
  seconds,
  rotate,
  tmpDir,
}) {
  return loadTool() === "wrk"
    ? runWrk({ url, headers, connections, threads, seconds, rotate, tmpDir })
    : runAutocannon({ url, headers, connections, seconds, rotate });
}

async function runWrk({ url, headers, connections, threads, seconds, rotate, tmpDir }) {
  const script = join(tmpDir, `wrk-${connections}-${rotate ? rotate.tenants.length : 0}.lua`);
  await writeFile(
    script,
    (rotate ? rotationLua(rotate, headers) : "") + (await readFile(REPORT_LUA, "utf8")),
  );
  const args = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "5s",
  ];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push("-s", script, url);
  const { code, output } = await runProcess("wrk", WRK, args, { maxMs: (seconds + 30) * 1000 });
  const line = output.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${output.slice(-2000)}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  const secondsRun = r.duration_us / 1e6;
  const ms = (us) => us / 1000;
  return {
    rps: r.requests / secondsRun,
    p50Ms: ms(r.latency_us.p50),
    p90Ms: ms(r.latency_us.p90),
    p99Ms: ms(r.latency_us.p99),
    meanMs: ms(r.latency_us.mean),
    maxMs: ms(r.latency_us.max),
    requests: r.requests,
    bytes: r.bytes,
    errors: r.errors,
    seconds: secondsRun,
  };
}

/** A wrk `init`/`request` pair that cycles through pre-formatted per-tenant requests. */
function rotationLua(rotate, headers) {
  const tenants = rotate.tenants.map((t) => `"${t}"`).join(",");
  const fixed = Object.entries(headers)
    .map(([k, v]) => `["${k}"]="${v}"`)
    .join(",");
  return `local tenants = {${tenants}}
local reqs = {}
local n = 0
init = function(args)
  for i, t in ipairs(tenants) do
    local h = {${fixed}}
    h["${rotate.header}"] = t
    reqs[i] = wrk.format("GET", string.gsub("${rotate.path}", "{tenant}", t), h)
  end
  -- Threads and connections start at different tenants.
  n = math.random(#reqs)
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
`;
}

async function runAutocannon({ url, headers, connections, seconds, rotate }) {
  const spec = JSON.stringify({ url, headers, connections, seconds, rotate });
  const { code, output } = await runProcess(
    "autocannon",
    process.execPath,
    [AUTOCANNON_RUNNER, spec],
    {
      maxMs: (seconds + 30) * 1000,
    },
  );
  const line = output.split("\n").find((l) => l.startsWith("AC_JSON "));
  if (code !== 0 || !line)
    throw new Error(`autocannon failed (exit ${code}):\n${output.slice(-2000)}`);
  return JSON.parse(line.slice("AC_JSON ".length));
}
