/**
 * A real Prometheus for tests: scrapes the given targets, evaluates the given rule
 * files, answers PromQL. Started on a free loopback port with its own temp TSDB, and
 * ready only when `/-/ready` says so.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";

export interface PrometheusOptions {
  /** `host:port` of each target, scraped at `/metrics` under job `palisade`. */
  scrapeTargets: string[];
  /** Scrape and rule evaluation interval, e.g. "1s". Defaults to "1s". */
  scrapeInterval?: string;
  /** Rule files to load; relative paths are resolved against the working directory. */
  ruleFiles?: string[];
}

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
  /** Instant query at "now"; the `result` array of a vector or matrix (a scalar or string comes wrapped in an array). Throws on any API error. */
  query(expr: string): Promise<unknown[]>;
  /** Exemplars of the series `expr` selects, over the last `seconds`: the `data` array. */
  queryExemplars(expr: string, seconds?: number): Promise<ExemplarSeries[]>;
  /** Resolves once every scrape target has been scraped successfully. */
  waitForTargetsUp(): Promise<void>;
}

export interface ExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

const READY_TIMEOUT_MS = 30_000;
const TARGETS_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const POLL_MS = 100;
const START_ATTEMPTS = 3;
const STDERR_TAIL_CHARS = 4_000;

/** The first of `names` found as an executable file on PATH, as an absolute path. */
export function findBinary(names: string[]): string | undefined {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== "");
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        if (!statSync(candidate).isFile()) continue;
        accessSync(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = findBinary(["prometheus"]);
  if (binary === undefined) {
    throw new Error(
      "prometheus binary not found on PATH (Debian/Ubuntu: apt-get install prometheus; " +
        "or download a release from https://prometheus.io/download/)",
    );
  }
  const dir = await mkdtemp(join(tmpdir(), "palisade-prometheus-"));
  try {
    const configFile = join(dir, "prometheus.yml");
    await writeFile(configFile, renderConfig(options));
    // The port is free when we look and taken a moment later by someone else only
    // rarely; when it happens Prometheus exits at once and we try another one.
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const proc = launch(binary, port, dir, configFile);
      try {
        await waitForReady(proc, `http://127.0.0.1:${port}`);
        return running(proc, `http://127.0.0.1:${port}`, dir, options.scrapeTargets.length);
      } catch (error) {
        await terminate(proc.child);
        const portTaken = /address already in use/i.test(proc.stderrTail());
        if (!portTaken || attempt >= START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** JSON is YAML, so no YAML writer is needed. */
function renderConfig({
  scrapeTargets,
  scrapeInterval = "1s",
  ruleFiles = [],
}: PrometheusOptions): string {
  const config = {
    global: { scrape_interval: scrapeInterval, evaluation_interval: scrapeInterval },
    rule_files: ruleFiles.map((file) => resolve(file)),
    scrape_configs:
      scrapeTargets.length === 0
        ? []
        : [
            {
              job_name: "palisade",
              metrics_path: "/metrics",
              static_configs: [{ targets: scrapeTargets }],
            },
          ],
  };
  return JSON.stringify(config, null, 2);
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a loopback listener"));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
  stderrTail(): string;
}

function launch(binary: string, port: number, dir: string, configFile: string): Launched {
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      "--log.level=warn",
      // Keeps the exemplars an OpenMetrics scrape carries (trace ids on latency buckets).
      "--enable-feature=exemplar-storage",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let tail = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once("exit", () => resolveExit());
    child.once("error", (error) => {
      tail += `\n${String(error)}`;
      resolveExit();
    });
  });
  return { child, exited, stderrTail: () => tail };
}

async function waitForReady(proc: Launched, url: string): Promise<void> {
  let gone = false;
  void proc.exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) {
      throw new Error(`prometheus exited before it was ready:\n${proc.stderrTail()}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(POLL_MS);
  }
  throw new Error(`prometheus not ready after ${READY_TIMEOUT_MS} ms:\n${proc.stderrTail()}`);
}

function running(proc: Launched, url: string, dir: string, targetCount: number): RunningPrometheus {
  // A test runner that dies must not leave Prometheus behind.
  const killOnExit = (): void => {
    proc.child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  let stopping: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopping ??= (async () => {
        process.removeListener("exit", killOnExit);
        await terminate(proc.child);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
    query: (expr) => query(url, expr),
    queryExemplars: (expr, seconds = 300) => {
      const end = Date.now() / 1000;
      const params = `query=${encodeURIComponent(expr)}&start=${String(end - seconds)}&end=${String(end)}`;
      return api<ExemplarSeries[]>(url, `/api/v1/query_exemplars?${params}`);
    },
    waitForTargetsUp: () => waitForTargetsUp(url, targetCount),
  };
}

async function terminate(child: ChildProcess): Promise<void> {
  // No pid: the spawn itself failed, so there is nothing to stop and no exit to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<boolean>((resolveExit) => child.once("exit", () => resolveExit(true)));
  child.kill("SIGTERM");
  const timer = sleep(STOP_GRACE_MS).then(() => false);
  if (await Promise.race([exited, timer])) return;
  child.kill("SIGKILL");
  await exited;
}

interface ApiResponse<T> {
  status: "success" | "error";
  data?: T;
  errorType?: string;
  error?: string;
}

async function api<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: ApiResponse<T>;
  try {
    body = JSON.parse(text) as ApiResponse<T>;
  } catch {
    throw new Error(`prometheus ${path}: HTTP ${response.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (body.status !== "success" || body.data === undefined) {
    throw new Error(`prometheus ${path}: ${body.errorType ?? "error"}: ${body.error ?? text}`);
  }
  return body.data;
}

async function query(url: string, expr: string): Promise<unknown[]> {
  const data = await api<{ resultType: string; result: unknown }>(
    url,
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  ).catch((error: unknown) => {
    throw new Error(
      `query failed: ${expr}\n${error instanceof Error ? error.message : String(error)}`,
    );
  });
  if (data.resultType === "vector" || data.resultType === "matrix") return data.result as unknown[];
  return [data.result];
}

interface ActiveTarget {
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}

async function waitForTargetsUp(url: string, expected: number): Promise<void> {
  const deadline = Date.now() + TARGETS_TIMEOUT_MS;
  let targets: ActiveTarget[] = [];
  while (Date.now() < deadline) {
    ({ activeTargets: targets } = await api<{ activeTargets: ActiveTarget[] }>(
      url,
      "/api/v1/targets?state=active",
    ));
    if (targets.length >= expected && targets.every((t) => t.health === "up")) return;
    await sleep(POLL_MS);
  }
  const state = targets.map((t) => `${t.scrapeUrl}: ${t.health} ${t.lastError}`).join("\n");
  throw new Error(
    `prometheus targets not up after ${TARGETS_TIMEOUT_MS} ms (expected ${expected}):\n${state}`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
