/**
 * Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and ranks functions by self time:
 * each sample's time delta is charged to the node it landed in, then nodes are grouped by
 * function name + script + line.
 */
import { readFile } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(import.meta.dirname, "../..");

export async function readProfile(file) {
  return JSON.parse(await readFile(file, "utf8"));
}

/**
 * `{ totalMs, idleMs, functions: [{ name, where, selfMs, share }], buckets: [...] }`, shares
 * of busy time, over the samples inside `window` (`{ from, to }`, the profile's µs clock).
 */
export function selfTimes(profile, window) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window.from || t > window.to)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map();
  const buckets = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const where = shortUrl(frame.url, frame.lineNumber);
    const key = `${frame.functionName}\0${where}`;
    const entry = functions.get(key) ?? {
      name: frame.functionName || "(anonymous)",
      where,
      selfUs: 0,
    };
    entry.selfUs += us;
    functions.set(key, entry);
    const bucket = bucketOf(frame);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs || 1;
  const ranked = [...functions.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .map((f) => ({
      name: f.name,
      where: f.where,
      selfMs: f.selfUs / 1000,
      share: f.selfUs / busyUs,
    }));
  const bucketList = [...buckets]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / busyUs }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, functions: ranked, buckets: bucketList };
}

function shortUrl(url, line) {
  if (!url) return "";
  let path = url;
  if (url.startsWith("file://")) path = relative(ROOT, fileURLToPath(url));
  return `${path}:${line + 1}`;
}

/** Where the time went, coarsely: our code, a dependency, Node's internals, V8 itself. */
function bucketOf(frame) {
  const url = frame.url ?? "";
  if (!url)
    return frame.functionName.startsWith("(") ? `V8 ${frame.functionName}` : "native (no script)";
  if (url.startsWith("node:")) return "node: internals";
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return `dependency ${dep[1]}`;
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist) return `palisade dist/${dist[1]}/`;
  if (url.includes("/dist/")) return "palisade dist/";
  return "other";
}

export function formatTop(title, summary, n = 20) {
  const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${title}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${((summary.idleMs / summary.totalMs) * 100).toFixed(0)}% idle; shares are of busy time`,
    "  by area:",
    ...summary.buckets.slice(0, 10).map((b) => `    ${pct(b.share)}  ${b.name}`),
    `  top ${n} functions by self time:`,
    ...summary.functions.slice(0, n).map((f) => `    ${pct(f.share)}  ${f.name}  ${f.where}`),
  ];
  return lines.join("\n");
}
