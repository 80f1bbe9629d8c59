/**
 * Start-up failures: a listener that cannot bind must not leave a half-started sidecar
 * serving on the others, never reloading and deaf to SIGTERM. `Sidecar.start` closes all
 * it opened and rejects; `palisade run` prints one line and exits non-zero. And SIGTERM
 * stops a running sidecar promptly even while hostile sockets hold every listener.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ListenError } from "../src/config/listen.js";
import { Sidecar } from "../src/sidecar.js";
import { startApp, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, makePki, type Pki } from "./support/mesh.js";
import { spawnSidecar, type SidecarProcess } from "./support/process.js";
import { closedWithin, openTls } from "./support/tls-client.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Generous: a start-up that fails must exit well within it, whatever the machine load. */
const EXIT_WITHIN_MS = 20_000;

let pki: Pki;
let app: TestApp;
let dir: string;
let taken: Server;
let takenPort: number;
const running: SidecarProcess[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders", "web"]);
  app = await startApp();
  dir = await mkdtemp(join(tmpdir(), "palisade-startup-"));
  // Another process's port: bound once on port 0 and held for the whole file.
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  takenPort = (taken.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((p) => p.kill()));
});

afterAll(async () => {
  await new Promise((resolve) => taken?.close(resolve));
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

type Listener = "inbound" | "outbound" | "admin";

/** A config whose `listener` asks for the taken port; the others bind port 0. */
async function configFile(name: string, listener?: Listener, extra: object = {}): Promise<string> {
  const config = { ...baseConfig(pki, "orders", ["acme"], app.url), ...extra };
  if (listener) {
    const section = config[listener] as Record<string, unknown>;
    section["listen"] = `127.0.0.1:${takenPort}`;
  }
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, stringify(config));
  return file;
}

/** Handles the process holds that keep it alive: listening sockets and file watchers. */
function openHandles(): Record<string, number> {
  const counts: Record<string, number> = { TCPServerWrap: 0, FSEventWrap: 0 };
  for (const kind of process.getActiveResourcesInfo())
    if (kind in counts) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `palisade run -c FILE` from source (as the other CLI tests), killed if it outlives the bound. */
function run(file: string): Promise<Exit> {
  return cli("run", file);
}

async function cli(command: "run" | "check", file: string): Promise<Exit> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", command, "-c", file], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const killer = setTimeout(() => child.kill("SIGKILL"), EXIT_WITHIN_MS);
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, stdout, stderr };
}

describe("Sidecar.start with a listener that cannot bind", () => {
  for (const listener of ["inbound", "outbound", "admin"] as const) {
    it(`port-in-use on ${listener}: rejects with ListenError and leaves nothing open`, async () => {
      const file = await configFile(`taken-${listener}`, listener);
      const before = openHandles();
      const lines: string[] = [];
      const started = Sidecar.start({
        configFile: file,
        watch: true,
        logStream: { write: (line: string) => void lines.push(line) },
      });
      const err = await started.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ListenError);
      expect(err).toMatchObject({ listener, code: "EADDRINUSE" });
      expect((err as Error).message).toContain(`127.0.0.1:${takenPort}`);
      // The listeners that did bind are closed, and no watcher is left behind (libuv
      // releases a closed handle a moment after its `close` event).
      await eventually(
        () => JSON.stringify(openHandles()) === JSON.stringify(before),
        `handles back to ${JSON.stringify(before)} (now ${JSON.stringify(openHandles())})`,
      );
      expect(lines.some((l) => l.includes('"palisade failed to start"'))).toBe(true);
      expect(lines.some((l) => l.includes('"palisade started"'))).toBe(false);
    });
  }
});

describe("palisade run", () => {
  it("port-in-use: prints one clear error and exits 1 promptly", async () => {
    const exit = await run(await configFile("cli-taken", "inbound"));
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(1);
    const errors = exit.stderr.trim().split("\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(
        `^palisade: cannot start: cannot listen on 127\\.0\\.0\\.1:${takenPort} \\(inbound\\): EADDRINUSE$`,
      ),
    );
    expect(exit.stdout).not.toContain('"palisade started"');
  });

  it("unusable config: exits 2", async () => {
    const exit = await run(await configFile("cli-bad", undefined, { inbound: { listen: "nope" } }));
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/^palisade: cannot start: .*inbound\.listen/);
  });

  // check, run and reload share one admission rule: what run cannot start, check refuses.
  it("out-of-range-port-passes-check: check and run both refuse it, naming the key", async () => {
    const file = await configFile("port-range", undefined, {
      admin: { listen: "127.0.0.1:99999" },
    });
    const [check, started] = await Promise.all([cli("check", file), run(file)]);
    expect(check.code).toBe(2);
    expect(check.stdout + check.stderr).toMatch(/admin\.listen.*port must be 0-65535/);
    expect(started.code).toBe(2);
    expect(started.stderr).toMatch(
      /^palisade: cannot start: .*admin\.listen.*port must be 0-65535/,
    );
    expect(started.stderr).not.toContain("options.port");
  });

  it("bad-listen-host-passes-check: a host neither an IP nor a DNS name is a key-path error", async () => {
    // Both match the host:port shape; run would fail at bind (ENOTFOUND, EINVAL).
    for (const listen of ["999.0.0.1:0", "[1:2:3]:0"]) {
      const file = await configFile("bad-host", undefined, { admin: { listen } });
      const check = await cli("check", file);
      expect(check.code).toBe(2);
      expect(check.stdout + check.stderr).toMatch(/admin\.listen.*host must be an IP address/);
    }
  });

  it("duplicate-listen-ports-pass-check: check and run refuse two listeners on one address", async () => {
    // Fixed ports that nothing binds: the refusal must come from the config, not the bind.
    for (const [inbound, outbound] of [
      [`127.0.0.1:${takenPort}`, `127.0.0.1:${takenPort}`],
      [`0.0.0.0:${takenPort}`, `127.0.0.1:${takenPort}`],
    ] as const) {
      const base = baseConfig(pki, "orders", ["acme"], app.url);
      const file = await configFile("duplicate-port", undefined, {
        inbound: { ...(base["inbound"] as object), listen: inbound },
        outbound: { listen: outbound },
      });
      const [check, started] = await Promise.all([cli("check", file), run(file)]);
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/listen_address_conflict \(outbound\.listen\)/);
      expect(started.code).toBe(2);
      expect(started.stderr).toMatch(/listen_address_conflict \(outbound\.listen\)/);
      expect(started.stdout).not.toContain('"palisade started"');
    }
  });

  it("sigterm-with-hostile-sockets: drains and exits 0 promptly", async () => {
    const timeouts = { headers: "60s", idle: "60s" };
    const file = await configFile("cli-hostile", undefined, {
      drainTimeout: "60s",
      inbound: { ...(baseConfig(pki, "orders", ["acme"], app.url)["inbound"] as object), timeouts },
      outbound: { listen: "127.0.0.1:0", timeouts },
    });
    const sidecar = await spawnSidecar(file);
    running.push(sidecar);
    const port = (url: string) => Number(new URL(url).port);
    const tcp = async (p: number) => {
      const socket = connect({ host: "127.0.0.1", port: p });
      socket.on("error", () => {});
      sockets.push(socket);
      await once(socket, "connect");
      return socket;
    };
    const silent = [
      await tcp(port(sidecar.inbound)),
      await tcp(port(sidecar.outbound)),
      await tcp(port(sidecar.admin)),
    ];
    const established = await openTls(port(sidecar.inbound), {
      cert: await pki.cert("acme", "web"),
      key: await pki.key("acme", "web"),
      ca: await pki.ca("acme"),
      servername: "acme.orders.mesh.local",
    });
    established.on("error", () => {});
    sockets.push(established);

    const signalled = Date.now();
    sidecar.child.kill("SIGTERM");
    const exit = await Promise.race([
      sidecar.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("no exit after SIGTERM")), EXIT_WITHIN_MS).unref(),
      ),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(EXIT_WITHIN_MS);
    for (const socket of [...silent, established])
      expect(await closedWithin(socket, 5_000)).toBe(true);
  });
});
