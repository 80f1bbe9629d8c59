/** What the numbers were measured on, and RSS readings from /proc. */
import { readFile } from "node:fs/promises";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import { runProcess } from "./processes.mjs";
import { NGINX, nginxAvailable } from "./nginx.mjs";
import { loadTool } from "./load.mjs";

export async function describeMachine() {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  return {
    cpu: model,
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    nginx: nginxAvailable() ? await version(NGINX, ["-v"], /nginx\/(\S+)/) : "absent",
    loadTool: loadTool(),
    wrk: loadTool() === "wrk" ? await version("/usr/bin/wrk", ["-v"], /wrk (\S+)/) : undefined,
    date: new Date().toISOString(),
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function version(command, args, pattern) {
  const { output } = await runProcess("version", command, args, { maxMs: 5_000 }).catch(() => ({
    output: "",
  }));
  return pattern.exec(output)?.[1] ?? "unknown";
}

/** Resident set size of `pid` in MiB (VmRSS), or undefined once it is gone. */
export async function rssMiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : undefined;
  } catch {
    return undefined;
  }
}
