/**
 * Child processes for the benchmark: every process is started in its own process group
 * and remembered, so that `stopAll` (called on success, on error and on Ctrl-C) can end
 * exactly the processes this run started — nginx workers included — and nothing else.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";

/** pid → child, for everything still running. */
const running = new Map();

/**
 * Starts `command` detached (its own process group). Output is kept (last 64 KiB) for
 * error messages; `onLine` sees stdout lines. `maxMs` kills it if it outlives its welcome.
 */
export function startProcess(name, command, args, { env, cwd, maxMs, onLine } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { text: "" };
  const keep = (chunk) => {
    output.text = (output.text + chunk.toString()).slice(-65_536);
  };
  let partial = "";
  child.stdout.on("data", (chunk) => {
    keep(chunk);
    if (!onLine) return;
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  child.stderr.on("data", keep);
  const exited = once(child, "exit").then(([code, signal]) => {
    running.delete(child.pid);
    clearTimeout(timer);
    return { code, signal };
  });
  const timer = maxMs ? setTimeout(() => killGroup(child.pid, "SIGKILL"), maxMs) : undefined;
  running.set(child.pid, { name, child });
  return {
    name,
    pid: child.pid,
    child,
    exited,
    output: () => output.text,
    /** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
    async stop(graceMs = 5_000) {
      if (!running.has(child.pid)) return exited;
      killGroup(child.pid, "SIGTERM");
      const late = setTimeout(() => killGroup(child.pid, "SIGKILL"), graceMs);
      const result = await exited;
      clearTimeout(late);
      return result;
    },
  };
}

/** Runs a command to completion (bounded by `maxMs`) and returns its output. */
export async function runProcess(name, command, args, options = {}) {
  const proc = startProcess(name, command, args, options);
  const { code, signal } = await proc.exited;
  return { code, signal, output: proc.output() };
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Ends every process this run started: SIGTERM, then SIGKILL for what is left. */
export async function stopAll(graceMs = 5_000) {
  const all = [...running.values()];
  for (const { child } of all) killGroup(child.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (running.size > 0 && Date.now() < deadline) await sleep(50);
  for (const { child } of running.values()) killGroup(child.pid, "SIGKILL");
}

/** Synchronous last resort for `process.on("exit")`. */
function killAllNow() {
  for (const { child } of running.values()) killGroup(child.pid, "SIGKILL");
}

let guarded = false;
/** Makes sure children die with us: normal exit, uncaught error, Ctrl-C, SIGTERM. */
export function guardChildren() {
  if (guarded) return;
  guarded = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping child processes\n`);
      void stopAll(2_000).finally(() => process.exit(130));
    });
  }
}

/** Resolves when something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port, { timeoutMs = 20_000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    assertAlive(proc);
    if (Date.now() > deadline)
      throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Resolves with the elapsed ms when `url` answers 200. */
export async function waitForHttp(url, { timeoutMs = 30_000, proc, intervalMs = 20 } = {}) {
  const start = performance.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await request(url, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      if (res.statusCode === 200) return performance.now() - start;
    } catch {
      // Not up yet.
    }
    assertAlive(proc);
    if (Date.now() > deadline) {
      throw new Error(`${url} did not answer 200 within ${timeoutMs} ms${tail(proc)}`);
    }
    await sleep(intervalMs);
  }
}

function assertAlive(proc) {
  if (proc && !running.has(proc.pid)) {
    throw new Error(`${proc.name} exited before it was ready${tail(proc)}`);
  }
}

function tail(proc) {
  if (!proc) return "";
  const text = proc.output().trim().split("\n").slice(-15).join("\n");
  return text ? `; its last output:\n${text}` : "";
}
