/**
 * Buffered access lines survive the end of the process: the real CLI (`palisade run`)
 * serves requests, then is stopped by SIGTERM (the drain flushes after the last request's
 * line) or by a second SIGINT (exit at once: the exit hook writes what is buffered). Every
 * request's line is on stdout either way, and the drop counter is exposed.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request, type Agent } from "undici";
import { stringify } from "yaml";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, tenantClient, type LogLine } from "./support/mesh.js";
import { spawnSidecar, type SidecarProcess } from "./support/process.js";
import { withMesh } from "./support/with-mesh.js";

const REQUESTS = 120;
const mesh = withMesh(["acme", "globex"], ["orders", "web"]);
let dir: string;
let appUrl: string;
const running: SidecarProcess[] = [];
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-access-drain-"));
  mesh.defer(() => rm(dir, { recursive: true, force: true }));
  appUrl = (await mesh.app()).url;
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

async function start(name: string, drainDelay: string): Promise<SidecarProcess> {
  const file = join(dir, `${name}.yaml`);
  const config = {
    ...baseConfig(mesh.pki, "orders", ["acme", "globex"], appUrl),
    drainDelay,
  };
  await writeFile(file, stringify(config));
  const sidecar = await spawnSidecar(file);
  running.push(sidecar);
  return sidecar;
}

/** Served and refused requests, ten at a time, each with its own id; resolves with the ids. */
async function traffic(sidecar: SidecarProcess, prefix: string): Promise<string[]> {
  const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
  agents.push(agent);
  const ids = Array.from({ length: REQUESTS }, (_, i) => `${prefix}-${String(i)}`);
  for (let i = 0; i < ids.length; i += 10) {
    const batch = ids.slice(i, i + 10).map(async (id, j) => {
      // Every third request is refused (another tenant's path): written at warn.
      const tenant = j % 3 === 0 ? "globex" : "acme";
      const answer = await send(agent, `${sidecar.inbound}/tenants/${tenant}/orders`, {
        headers: { "x-request-id": id },
      });
      expect(answer.status).toBe(tenant === "acme" ? 200 : 403);
    });
    await Promise.all(batch);
  }
  return ids;
}

/** The exit, then every line the child wrote to stdout before it (the pipe may lag). */
async function exitAndLines(sidecar: SidecarProcess, last: (l: LogLine) => boolean) {
  const exit = await sidecar.exited;
  await eventually(() => sidecar.logs.some(last), "the last log line", 5_000);
  return exit;
}

function accessIds(logs: readonly LogLine[]): string[] {
  return logs.filter((l) => l.log === "access").map((l) => String(l["requestId"]));
}

describe("buffered access lines at the end of the process", () => {
  it("SIGTERM: every request's line is written before the drain's last line", async () => {
    const sidecar = await start("sigterm", "0s");
    const metrics = await request(`${sidecar.stats}/metrics`);
    expect(await metrics.body.text()).toMatch(/^palisade_log_lines_dropped_total(\{[^}]*\})? 0$/m);
    const ids = await traffic(sidecar, "term");
    sidecar.child.kill("SIGTERM");
    const exit = await exitAndLines(sidecar, (l) => l.msg === "stopped");
    expect(exit).toEqual({ code: 0, signal: null });
    const stopped = sidecar.logs.findIndex((l) => l.msg === "stopped");
    expect(accessIds(sidecar.logs.slice(0, stopped)).sort()).toEqual([...ids].sort());
  });

  it("a second SIGINT exits at once: the exit hook still writes every buffered line", async () => {
    const sidecar = await start("sigint", "30s");
    const ids = await traffic(sidecar, "int");
    sidecar.child.kill("SIGINT");
    // Not the "draining" line: waiting for it would give the flush timer time to write.
    await eventually(async () => (await sidecar.readyz()) === 503, "/readyz 503");
    sidecar.child.kill("SIGINT");
    const lastId = ids.at(-1);
    const exit = await exitAndLines(sidecar, (l) => l["requestId"] === lastId);
    expect(exit).toEqual({ code: 130, signal: null });
    expect(accessIds(sidecar.logs).sort()).toEqual([...ids].sort());
  });
});
