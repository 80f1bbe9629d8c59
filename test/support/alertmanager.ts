/**
 * A real Alertmanager for tests: a throwaway config routing everything to a receiver that
 * sends nothing, free loopback ports, clustering off, storage in a temp dir. Ready when
 * `/-/ready` answers, stopped (and cleaned up) by `stop()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export interface RunningAlertmanager {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** The fields of Alertmanager's `GettableAlert` (API v2) that tests look at. */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/**
 * `GET /api/v2/alerts` narrowed by exact label matches (`filter=label="value"`), active
 * ones only unless `active` is false.
 */
export async function listAlerts(
  am: RunningAlertmanager,
  labels: Record<string, string>,
  { active = true }: { active?: boolean } = {},
): Promise<GettableAlert[]> {
  const query = new URLSearchParams({ active: String(active) });
  for (const [name, value] of Object.entries(labels)) query.append("filter", `${name}="${value}"`);
  const res = await fetch(`${am.url}/api/v2/alerts?${query.toString()}`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (res.status !== 200)
    throw new Error(`Alertmanager answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as GettableAlert[];
}

const BINARIES = ["prometheus-alertmanager", "alertmanager"];
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

const CONFIG = `global:
  resolve_timeout: 5m
route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
`;

/** The Alertmanager binary on PATH, or undefined. */
export function findAlertmanager(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of BINARIES) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

/**
 * Starts one Alertmanager. Port 0 cannot be handed to Alertmanager, so a free port is found
 * by binding and closing; another process can grab it in between, hence the few retries.
 */
export async function startAlertmanager(): Promise<RunningAlertmanager> {
  const binary = findAlertmanager();
  if (binary === undefined) {
    throw new Error(`Alertmanager not found on PATH (looked for ${BINARIES.join(", ")})`);
  }
  const dir = await mkdtemp(join(tmpdir(), "palisade-am-"));
  const configFile = join(dir, "alertmanager.yml");
  await writeFile(configFile, CONFIG);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const stderr = captureTail(child);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitReady(url, child);
      return { url, stop: () => stop(child, dir) };
    } catch (error) {
      lastError = new Error(`Alertmanager did not start: ${String(error)}\n${stderr()}`);
      await kill(child);
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/** A loopback port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `/-/ready` with a growing delay; gives up early if the process exits. */
async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delay = 20;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
  throw new Error(`not ready within ${READY_TIMEOUT_MS} ms`);
}

function captureTail(child: ChildProcess): () => string {
  let tail = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-4_000);
  });
  return () => tail;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  await kill(child);
  await rm(dir, { recursive: true, force: true });
}
