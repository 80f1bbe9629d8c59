/**
 * Memory and startup: a caller/callee sidecar pair holding N tenants each (N = 10, 100,
 * 1000). RSS (/proc/PID/status VmRSS) at idle, then sampled under load that spreads
 * requests over all N tenants (so every tenant gets its own pooled mTLS connection, SNI
 * context and metric children); startup = spawn → admin /readyz 200.
 *
 * Both sidecars are service `orders` here so one leaf per tenant serves either side
 * (half the RSA signatures for the PKI); it changes nothing on the request path.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { withCpu } from "./cpu.mjs";
import { runLoad } from "./load.mjs";
import { rssMiB } from "./machine.mjs";
import { startPalisadePair, startSidecar } from "./palisade.mjs";
import { errorNote, median } from "./stats.mjs";

const SAMPLE_MS = 200;
const STARTUP_TRIALS = 3;

export async function runMemory({ counts, pki, ctx, seconds, warmup, log }) {
  const results = [];
  const startup = {};
  for (const count of counts) {
    const tenants = pki.tenants.slice(0, count);
    const dir = join(ctx.tmp, `memory-${count}`);
    let pair;
    try {
      pair = await startPalisadePair(dir, {
        pkiDir: pki.dir,
        tenants,
        appPort: ctx.appPort,
        callerService: "orders",
      });
      const startups = [pair.callee.startupMs, pair.caller.startupMs];
      const calleeConfig = pair.configs.callee;
      await sleep(2_000);
      const idle = {
        callee: await rssMiB(pair.callee.proc.pid),
        caller: await rssMiB(pair.caller.proc.pid),
      };
      const peak = { callee: idle.callee, caller: idle.caller };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          await sleep(SAMPLE_MS);
          for (const side of ["callee", "caller"]) {
            const rss = await rssMiB(pair[side].proc.pid);
            if (rss !== undefined) peak[side] = Math.max(peak[side], rss);
          }
        }
      })();
      let load;
      try {
        const spec = {
          url: `http://127.0.0.1:${pair.caller.ports.outbound}/`,
          headers: { Host: "orders" },
          rotate: { tenants, path: "/tenants/{tenant}/small", header: "x-palisade-tenant" },
          connections: 32,
          threads: 2,
          tmpDir: ctx.tmp,
        };
        // The warmup opens the per-tenant connections (one mTLS handshake each) and JITs.
        if (warmup > 0) await runLoad({ ...spec, seconds: warmup });
        load = await withCpu(
          { caller: [pair.caller.proc.pid], callee: [pair.callee.proc.pid] },
          () => runLoad({ ...spec, seconds }),
        );
      } finally {
        sampling = false;
        await sampler;
      }
      const after = {
        callee: await rssMiB(pair.callee.proc.pid),
        caller: await rssMiB(pair.caller.proc.pid),
      };
      await Promise.all([pair.caller.proc.stop(), pair.callee.proc.stop()]);
      pair = undefined;
      if (count === Math.max(...counts)) {
        // More cold starts of the callee alone, for a median.
        for (let i = startups.length; i < STARTUP_TRIALS + 1; i++) {
          const again = await startSidecar("palisade-startup", calleeConfig, { cwd: dir });
          startups.push(again.startupMs);
          await again.proc.stop();
        }
      }
      startup[count] = { trialsMs: startups, medianMs: median(startups) };
      results.push({ tenants: count, idle, peak, afterLoad: after, load });
      log(
        `  ${count} tenants: startup ${median(startups).toFixed(0)} ms; RSS idle callee ${idle.callee?.toFixed(1)} / caller ${idle.caller?.toFixed(1)} MiB; ` +
          `under load peak ${peak.callee?.toFixed(1)} / ${peak.caller?.toFixed(1)} MiB; ${Math.round(load.rps)} req/s over ${count} tenants${errorNote(load)}`,
      );
    } catch (err) {
      results.push({ tenants: count, error: err.message });
      log(`  ${count} tenants: FAILED: ${err.message}`);
    } finally {
      if (pair) await Promise.all([pair.caller.proc.stop(), pair.callee.proc.stop()]);
    }
  }
  return { results, startup };
}
