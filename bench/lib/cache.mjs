/**
 * Cache hit path vs miss path through the single-process Palisade row with every feature
 * on, kept out of the main table. Its inbound cache is on with `defaultTtl: 60s`:
 * `/tenants/acme/{size}` is stored and then answered by the inbound without the app;
 * `/tenants/acme/nostore/{size}` comes back `cache-control: no-store`, so every request is
 * a miss that goes to the app after the same lookup (the main table's route).
 */
import { readFile } from "node:fs/promises";
import { Agent, request } from "undici";
import { withCpu } from "./cpu.mjs";
import { cacheCounters, CACHE_ROUTE } from "./features.mjs";
import { runLoad } from "./load.mjs";
import { pkiPaths, TRUST_DOMAIN } from "./pki.mjs";
import { rowName } from "./rows.mjs";
import { CLIENT_HEADERS, startRow, TENANT } from "./targets.mjs";
import { errorNote } from "./stats.mjs";
import { LOADS } from "./throughput.mjs";

const ROW = { kind: "palisade", layout: "1p", features: "on", workers: 1 };

export async function runCache({ ctx, sizes, seconds, warmup, log }) {
  const row = { ...ROW, name: `${rowName(ROW)}-cache` };
  const running = await startRow(row, ctx);
  try {
    const outcomes = await probeOutcomes(ctx.pkiDir, running.inboundPort);
    log(`  cache outcomes seen at the callee inbound: ${JSON.stringify(outcomes)}`);
    const rows = [];
    for (const size of sizes) {
      for (const load of LOADS) {
        const row = { size, connections: load.connections };
        for (const [outcome, path] of [
          ["hit", `/tenants/${TENANT}/${size}`],
          ["miss", `/tenants/${TENANT}/nostore/${size}`],
        ]) {
          const spec = {
            url: running.url + path,
            headers: CLIENT_HEADERS,
            connections: load.connections,
            threads: load.threads,
            tmpDir: ctx.tmp,
          };
          if (warmup > 0) await runLoad({ ...spec, seconds: warmup });
          row[outcome] = await withCpu(
            { proxy: running.procs.map((p) => p.pid), app: [ctx.appPid] },
            () => runLoad({ ...spec, seconds }),
          );
        }
        row.rpsRatio = row.hit.rps / row.miss.rps;
        row.p50Ratio = row.hit.p50Ms / row.miss.p50Ms;
        const total = (c) => c.proxy + c.app;
        row.cpuRatio = total(row.hit.cpuUsPerRequest) / total(row.miss.cpuUsPerRequest);
        rows.push(row);
        log(
          `  ${size} c${load.connections}: hit ${Math.round(row.hit.rps)} req/s p50 ${row.hit.p50Ms.toFixed(2)} ms${errorNote(row.hit)} | ` +
            `miss ${Math.round(row.miss.rps)} req/s p50 ${row.miss.p50Ms.toFixed(2)} ms${errorNote(row.miss)} | hit/miss ${row.rpsRatio.toFixed(2)}× req/s, ` +
            `CPU µs/req sidecar ${row.hit.cpuUsPerRequest.proxy.toFixed(0)} vs ${row.miss.cpuUsPerRequest.proxy.toFixed(0)}, ` +
            `all processes ${total(row.hit.cpuUsPerRequest).toFixed(0)} vs ${total(row.miss.cpuUsPerRequest).toFixed(0)}`,
        );
      }
    }
    const counters = await cacheCounters(running.adminPort);
    return { route: CACHE_ROUTE, outcomes, rows, counters };
  } finally {
    await running.stop();
  }
}

/** `x-palisade-cache` as the inbound answers it (the outbound strips reserved headers). */
async function probeOutcomes(pkiDir, inboundPort) {
  const web = pkiPaths(pkiDir, TENANT, "web");
  const [cert, key, ca] = await Promise.all(
    [web.cert, web.key, web.ca].map((p) => readFile(p, "utf8")),
  );
  const agent = new Agent({
    connect: {
      cert,
      key,
      ca,
      servername: `${TENANT}.orders.${TRUST_DOMAIN}`,
      checkServerIdentity: () => undefined,
    },
  });
  const seen = {};
  try {
    for (const path of ["small", "small", "nostore/small", "nostore/small"]) {
      const res = await request(`https://127.0.0.1:${inboundPort}/tenants/${TENANT}/${path}`, {
        dispatcher: agent,
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`cache probe ${path}: status ${res.statusCode}`);
      (seen[path] ??= []).push(res.headers["x-palisade-cache"] ?? "(none)");
    }
  } finally {
    await agent.close();
  }
  if (seen["small"]?.[1] !== "hit")
    throw new Error(`the cached route did not hit: ${JSON.stringify(seen)}`);
  return seen;
}
