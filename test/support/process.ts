/**
 * The real CLI as a child process (`palisade run -c FILE`, through tsx so tests need no
 * build): its JSON log lines are read from stdout, the "palisade started" event says where
 * it listens, and readiness is polled on the admin port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { eventually } from "./eventually.js";
import type { LogLine } from "./mesh.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SidecarProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  /** `http(s)://127.0.0.1:port` of each listener, from the "palisade started" event. */
  inbound: string;
  outbound: string;
  admin: string;
  stats: string;
  exited: Promise<Exit>;
  /** The first log line (already seen or still to come) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** GET `/readyz` status, or 0 when the admin port does not answer. */
  readyz(): Promise<number>;
  /** SIGKILL if it is still running (test cleanup). */
  kill(): Promise<void>;
}

export async function spawnSidecar(
  configFile: string,
  startTimeoutMs = 20_000,
): Promise<SidecarProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli.ts", "run", "-c", configFile],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: LogLine[] = [];
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      stderr += `${line}\n`;
    }
  });
  const exited = once(child, "exit").then(([code, signal]): Exit => ({ code, signal }));
  let running = true;
  void exited.then(() => (running = false));

  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 10_000) =>
    eventually(
      () => {
        const line = logs.find(match);
        if (line) return line;
        if (!running) throw new Error(`sidecar exited; stderr: ${stderr.slice(-2000)}`);
        return undefined;
      },
      what,
      timeoutMs,
    );

  const started = await waitForLog(
    (l) => l.msg === "palisade started",
    "palisade started",
    startTimeoutMs,
  );
  const sidecar: SidecarProcess = {
    child,
    logs,
    stderr: () => stderr,
    inbound: `https://${String(started["inbound"])}`,
    outbound: `http://${String(started["outbound"])}`,
    admin: `http://${String(started["admin"])}`,
    stats: `http://${String(started["stats"])}`,
    exited,
    waitForLog,
    readyz: async () => {
      try {
        const res = await request(`${sidecar.admin}/readyz`, { headersTimeout: 2_000 });
        await res.body.dump();
        return res.statusCode;
      } catch {
        return 0;
      }
    },
    kill: async () => {
      if (!running) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
  await eventually(async () => (await sidecar.readyz()) === 200, "/readyz 200");
  return sidecar;
}
