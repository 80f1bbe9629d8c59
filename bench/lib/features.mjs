/**
 * "Every feature on", the goal condition for the Palisade rows: the access log
 * (one line per request, written to a file), metrics (always on), tracing configured but
 * unsampled (an OTLP exporter pointed at a local sink, `sampleRatio: 0`), the inbound
 * cache on the benchmark route, and anomaly detection (always on). The benchmark path
 * `/tenants/{t}/nostore/small` answers `cache-control: no-store`, so the cache step runs
 * on every request and stores nothing: the cost of the step without a hit's saving.
 * "lean" is the config before this: logs at warn, no access log, no tracer, no cache.
 */
import { once } from "node:events";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { request } from "undici";
import { join } from "node:path";

export const FEATURE_SETS = ["on", "off"];
export const CACHE_ROUTE = { enabled: true, defaultTtl: "60s" };

/** The telemetry and cache settings of a Palisade row; `dir` holds its access log. */
export function featureConfig(features, { dir, traceSink }) {
  if (features === "off") return { telemetry: undefined, inboundCache: undefined };
  if (!traceSink) throw new Error("features on needs the OTLP trace sink");
  return {
    accessLog: join(dir, "access.log"),
    telemetry: {
      logs: { level: "info", destination: join(dir, "access.log"), access: true },
      otlp: { endpoint: traceSink.url, sampleRatio: 0 },
    },
    inboundCache: CACHE_ROUTE,
  };
}

/**
 * An OTLP/HTTP collector stand-in: answers every request 200 and counts the POSTs, so the
 * tracer has a live endpoint and the run can show that nothing was exported.
 */
export async function startTraceSink() {
  let posts = 0;
  const server = createServer((req, res) => {
    if (req.method === "POST") posts++;
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    posts: () => posts,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Proves the access log is on: waits (bounded) until the file holds at least one line with
 * `"log":"access"`. Lines are written asynchronously, so a first read may be empty.
 */
export async function expectAccessLines(file, { timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    const lines = text.split("\n").filter((l) => l.includes('"log":"access"')).length;
    if (lines > 0) return lines;
    if (Date.now() > deadline)
      throw new Error(`no access line in ${file} within ${timeoutMs} ms: is the access log on?`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Size of the access log so far (read at the end of a run, for the notes). */
export async function accessLogBytes(file) {
  return (await stat(file).catch(() => ({ size: 0 }))).size;
}

/** palisade_cache_requests_total at a sidecar's admin listener, by result. */
export async function cacheCounters(adminPort) {
  const res = await request(`http://127.0.0.1:${adminPort}/metrics`);
  const text = await res.body.text();
  const counts = {};
  for (const match of text.matchAll(
    /^palisade_cache_requests_total\{[^}]*result="(\w+)"[^}]*\} (\d+)/gm,
  )) {
    counts[match[1]] = (counts[match[1]] ?? 0) + Number(match[2]);
  }
  return counts;
}
