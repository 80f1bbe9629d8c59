/**
 * `drainTimeout` bounds shutdown whatever the app, an upstream or a reload does: a request
 * the app never answers is aborted when drain cuts its client (not awaited until
 * `timeouts.upstream`), a reload still settling is abandoned at the drain deadline, and a
 * FIFO named by a reloaded config is refused without being read.
 * In-process sidecars over real sockets and real TLS.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { request, type Agent } from "undici";
import { stringify } from "yaml";
import { Sidecar } from "../src/sidecar.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, makePki, startSidecar, tenantClient, type Pki } from "./support/mesh.js";

/** Far beyond the drain deadline: a stop that waits on the upstream takes at least this. */
const UPSTREAM_TIMEOUT = "60s";
const DRAIN_TIMEOUT_MS = 1_000;
/** Generous for a loaded machine, and still far below UPSTREAM_TIMEOUT. */
const STOP_WITHIN_MS = 15_000;

let pki: Pki;
let dir: string;
/** Never answers; counts the requests it is holding open. */
let hung: Server;
let hungUrl: string;
const holding = new Set<IncomingMessage>();
const agents: Agent[] = [];
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders", "web"]);
  dir = await mkdtemp(join(tmpdir(), "palisade-drain-deadline-"));
  hung = createServer((req) => {
    holding.add(req);
    req.once("close", () => holding.delete(req));
  });
  await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
  hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await Promise.all(agents.splice(0).map((a) => a.close()));
  hung.closeAllConnections();
});

afterAll(async () => {
  await new Promise((resolve) => hung?.close(resolve));
  await rm(dir, { recursive: true, force: true });
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

function drainConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = baseConfig(pki, "orders", ["acme"], hungUrl);
  const inbound = base["inbound"] as Record<string, unknown>;
  inbound["timeouts"] = { upstream: UPSTREAM_TIMEOUT };
  return { ...base, drainTimeout: `${DRAIN_TIMEOUT_MS}ms`, ...extra };
}

/** Stops the sidecar; resolves with how long it took, or rejects past STOP_WITHIN_MS. */
async function timedStop(sidecar: Sidecar): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    sidecar.stop(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`stop() still draining after ${STOP_WITHIN_MS} ms`)),
        STOP_WITHIN_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  return performance.now() - started;
}

/** Sends a request that stays unanswered; resolves with how it ended for the client. */
function pending(url: string, dispatcher: Agent, headers: Record<string, string> = {}) {
  return request(url, { dispatcher, headers }).then(
    async (r) => `status ${r.statusCode} ${await r.body.text()}`,
    (e: unknown) => `client error: ${(e as Error).message}`,
  );
}

describe("drain deadline", () => {
  it("hung-app-overruns-drain: stop() ends within drainTimeout and the app request is aborted", async () => {
    const running = await startSidecar(drainConfig());
    cleanup.push(() => rm(running.configFile, { force: true }));
    const client = await tenantClient(pki, "acme", "web", "orders");
    agents.push(client);
    const answer = pending(`${running.inbound}/tenants/acme/slow`, client);
    await eventually(() => holding.size === 1, "the app holding the request");

    const took = await timedStop(running.sidecar);
    expect(took).toBeLessThan(STOP_WITHIN_MS);
    expect(await answer).toMatch(/client error/);
    // The request to the app was aborted, not left to run to the upstream timeout.
    await eventually(() => holding.size === 0, "the app's request closed");
  });

  it("hung-upstream-overruns-drain: an outbound call to a silent upstream is aborted too", async () => {
    const running = await startSidecar(
      drainConfig({
        outbound: {
          listen: "127.0.0.1:0",
          allowUnsignedTenant: true,
          timeouts: { upstream: UPSTREAM_TIMEOUT },
          upstreams: { billing: { url: hungUrl, target: { path: "/tenants/{tenant}/**" } } },
        },
      }),
    );
    const answer = request(`${running.outbound}/tenants/acme/slow`, {
      headers: { host: "billing", "x-palisade-tenant": "acme" },
    }).then(
      (r) => `status ${r.statusCode}`,
      (e: unknown) => `client error: ${(e as Error).message}`,
    );
    await eventually(() => holding.size === 1, "the upstream holding the request");

    const took = await timedStop(running.sidecar);
    expect(took).toBeLessThan(STOP_WITHIN_MS);
    expect(await answer).toMatch(/client error/);
    await eventually(() => holding.size === 0, "the upstream's request closed");
  });

  it("client-gone-aborts-app-request: a client that leaves ends its request to the app", async () => {
    const running = await startSidecar(drainConfig());
    cleanup.push(() => running.stop());
    const client = await tenantClient(pki, "acme", "web", "orders");
    agents.push(client);
    const abort = new AbortController();
    const answer = request(`${running.inbound}/tenants/acme/slow`, {
      dispatcher: client,
      signal: abort.signal,
    }).catch((e: unknown) => (e as Error).name);
    await eventually(() => holding.size === 1, "the app holding the request");
    abort.abort();
    expect(await answer).toBe("AbortError");
    await eventually(() => holding.size === 0, "the app's request closed", 5_000);
    // Recorded as the client's leaving (499), not as an upstream failure.
    const metrics = await eventually(async () => {
      const text = await (await request(`${running.admin}/metrics`)).body.text();
      return text.includes('code="499"') && text;
    }, "the request recorded");
    expect(metrics).toMatch(/palisade_requests_total\{[^}]*tenant="acme"[^}]*code="499"[^}]*\} 1/);
    expect(metrics).not.toMatch(/palisade_requests_total\{[^}]*code="502"/);
  });

  it("stuck-reload-blocks-shutdown: drain waits on a reload in flight no longer than its deadline", async () => {
    const file = join(dir, "settling.yaml");
    const config = drainConfig();
    await writeFile(file, stringify(config));
    const lines: string[] = [];
    // A reload that takes a minute to settle stands for one stuck on a slow read: drain
    // cannot cancel it before its next step.
    const sidecar = await Sidecar.start({
      configFile: file,
      settleMs: 60_000,
      logStream: { write: (line: string) => void lines.push(line) },
    });
    const generation = sidecar.generation.id;
    await writeFile(file, stringify({ ...config, drainDelay: "0s" }));
    const reloaded = sidecar.reload("SIGHUP");
    // Past its start (where a draining sidecar would skip it): now settling.
    await new Promise((resolve) => setImmediate(resolve));

    const took = await timedStop(sidecar);
    expect(took).toBeLessThan(STOP_WITHIN_MS);
    expect(lines.some((l) => l.includes("reload still running at the end of drain"))).toBe(true);
    // Abandoned: whenever it ends, nothing is applied.
    expect(await Promise.race([reloaded, Promise.resolve("running")])).toBe("running");
    expect(sidecar.generation.id).toBe(generation);
  });

  it("fifo-in-reloaded-config: a FIFO is refused, never read, and stop() is prompt", async () => {
    const file = join(dir, "fifo.yaml");
    const config = drainConfig();
    await writeFile(file, stringify(config));
    const lines: string[] = [];
    const sidecar = await Sidecar.start({
      configFile: file,
      settleMs: 50,
      logStream: { write: (line: string) => void lines.push(line) },
    });
    cleanup.push(() => sidecar.stop());
    // A CA "file" whose read would never return until a writer opens it. Node waits for
    // a thread blocked on it even to exit, so it must not be opened at all.
    const fifo = join(dir, "ca.fifo");
    execFileSync("mkfifo", [fifo]);
    cleanup.push(() => {
      // Should anything be blocked reading it, a writer lets it end.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader: as it should be.
      }
      return rm(fifo, { force: true });
    });
    const tenants = config["tenants"] as Record<string, Record<string, unknown>>;
    (tenants["acme"] as Record<string, unknown>)["ca"] = fifo;
    await writeFile(file, stringify(config));
    const reloaded = await Promise.race([
      sidecar.reload("SIGHUP"),
      new Promise<string>((resolve) => setTimeout(() => resolve("still reading"), 10_000)),
    ]);
    expect(reloaded).toBe(false);
    const refused = lines.find((l) => l.includes("config reload refused"));
    expect(refused).toContain("not a regular file");
    expect(await timedStop(sidecar)).toBeLessThan(STOP_WITHIN_MS);
  });
});
