/**
 * CPU time per request, from /proc: utime + stime of every process in a process group
 * (nginx's master and worker, a sidecar and its threads). Unlike req/s and latency this
 * does not depend on how the scheduler shares the cores between wrk, the proxies and the
 * app, so it stays meaningful on a busy or small machine.
 */
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second for /proc/PID/stat; 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds used so far by all live processes whose process group is one of `groups`. */
export async function cpuSeconds(groups) {
  const wanted = new Set(groups);
  if (wanted.size === 0) return 0;
  let ticks = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined);
    if (!stat) continue;
    // Fields after the ")" that closes the command name: state ppid pgrp … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (!wanted.has(Number(fields[2]))) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Runs `fn` and returns its result with the CPU µs per request each group set used. */
export async function withCpu(sets, fn) {
  const before = await Promise.all(Object.values(sets).map(cpuSeconds));
  const result = await fn();
  const after = await Promise.all(Object.values(sets).map(cpuSeconds));
  const cpu = {};
  Object.keys(sets).forEach((name, i) => {
    cpu[name] = result.requests > 0 ? ((after[i] - before[i]) * 1e6) / result.requests : undefined;
  });
  return { ...result, cpuUsPerRequest: cpu };
}

/**
 * CPU seconds used so far by the main thread of each of `pids` (/proc/PID/task/PID/stat):
 * the thread a V8 CPU profile samples, without the threadpool, GC helpers and compilers.
 */
export async function mainThreadCpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/task/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
