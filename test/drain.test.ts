/**
 * The real CLI in a child process: SIGTERM drains (readiness fails first, new connections
 * are refused after `drainDelay`, in-flight requests finish and are told to close, exit 0),
 * and SIGHUP reloads a config the directory watch cannot see.
 */
import { connect } from "node:net";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Agent } from "undici";
import { echo, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, tenantClient } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { spawnSidecar, type SidecarProcess } from "./support/process.js";

let app: TestApp;
let dir: string;
/** Requests the app is holding until the test releases them. */
const held: Array<() => void> = [];
const running: SidecarProcess[] = [];
const agents: Agent[] = [];

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-drain-"));
  mesh.defer(() => rm(dir, { recursive: true, force: true }));
  app = await mesh.app((req, res, body) => {
    if (req.url?.includes("/slow")) held.push(() => echo(req, res, body));
    else echo(req, res, body);
  });
});

afterEach(async () => {
  for (const release of held.splice(0)) release();
  await Promise.all(running.splice(0).map((p) => p.kill()));
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

async function spawn(file: string, extra: Record<string, unknown> = {}): Promise<SidecarProcess> {
  const config = { ...baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url), ...extra };
  await writeFile(file, stringify(config));
  const sidecar = await spawnSidecar(file);
  running.push(sidecar);
  return sidecar;
}

async function acme(): Promise<Agent> {
  const agent = await tenantClient(mesh.pki, "acme", "web", "orders");
  agents.push(agent);
  return agent;
}

/** Resolves with the connect error code (ECONNREFUSED once the listener is closed), or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}

describe("drain on SIGTERM", () => {
  it("fails readiness, refuses new connections after drainDelay, finishes in-flight requests, exits 0", async () => {
    const sidecar = await spawn(join(dir, "drain.yaml"), {
      drainDelay: "2s",
      drainTimeout: "20s",
    });
    const port = Number(new URL(sidecar.inbound).port);
    const inFlight = await acme();
    const slow = [1, 2, 3].map((i) => send(inFlight, `${sidecar.inbound}/tenants/acme/slow/${i}`));
    await eventually(() => held.length === 3, "the app to hold 3 requests");

    sidecar.child.kill("SIGTERM");
    await eventually(async () => (await sidecar.readyz()) === 503, "/readyz 503");
    await sidecar.waitForLog((l) => l.msg === "draining", "draining event");

    // Within drainDelay the listener still serves (load balancers are catching up), and
    // tells every keep-alive client to go away.
    const late = await send(await acme(), `${sidecar.inbound}/tenants/acme/late`);
    expect(late.status).toBe(200);
    expect(late.headers["connection"]).toBe("close");
    expect(sidecar.logs.some((l) => l.msg === "listeners closed")).toBe(false);

    await eventually(
      async () => (await tryConnect(port)) === "ECONNREFUSED",
      "new connections refused",
    );
    expect(held.length).toBe(3);
    const exitedEarly = await Promise.race([
      sidecar.exited.then(() => true),
      Promise.resolve(false),
    ]);
    expect(exitedEarly).toBe(false);

    for (const release of held.splice(0)) release();
    const answers = await Promise.all(slow);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers["connection"]).toBe("close");
    }
    const exit = await Promise.race([
      sidecar.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("no exit within 15 s")), 15_000).unref(),
      ),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(sidecar.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["draining", "listeners closed", "stopped"]),
    );
    expect(sidecar.logs.find((l) => l.msg === "stopped")?.["cut"]).toBe(0);
  });
});

describe("SIGHUP", () => {
  it("reloads a config the directory watch cannot see (a symlink into another directory)", async () => {
    // The watched directory holds only a symlink; edits to its target elsewhere are
    // invisible to the watch, so only SIGHUP can pick them up.
    const real = join(dir, "elsewhere");
    const mounted = join(dir, "mounted");
    await mkdir(real, { recursive: true });
    await mkdir(mounted, { recursive: true });
    const target = join(real, "palisade.yaml");
    const link = join(mounted, "palisade.yaml");
    const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
    await writeFile(target, stringify(config));
    await symlink(target, link);
    const sidecar = await spawnSidecar(link);
    running.push(sidecar);
    const globex = await tenantClient(mesh.pki, "globex", "web", "orders");
    agents.push(globex);
    expect((await send(globex, `${sidecar.inbound}/tenants/globex/x`)).status).toBe(200);

    const tenants = config["tenants"] as Record<string, Record<string, unknown>>;
    tenants["globex"]!["revoked"] = true;
    await writeFile(target, stringify(config));
    sidecar.child.kill("SIGHUP");
    const reloaded = await sidecar.waitForLog(
      (l) => l.msg === "config reloaded" && l["reason"] === "SIGHUP",
      "reload on SIGHUP",
    );
    expect(reloaded["generation"]).toBe(2);
    expect(reloaded["revoked"]).toEqual(["globex"]);
    const listed = await send(undefined, `${sidecar.admin}/tenants`);
    expect(JSON.parse(listed.text)).toContainEqual(
      expect.objectContaining({ id: "globex", revoked: true }),
    );
    await expect(send(globex, `${sidecar.inbound}/tenants/globex/x`)).rejects.toThrow();
    expect(sidecar.logs.filter((l) => l.msg === "config reloaded")).toHaveLength(1);
    expect(await sidecar.readyz()).toBe(200);

    sidecar.child.kill("SIGTERM");
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
  });
});
