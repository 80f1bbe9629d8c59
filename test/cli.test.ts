/**
 * The CLI as a child process, as users and scripts see it: exit statuses, one clear line on
 * stderr for bad flags and unusable input, inject and uninject through a pipe, and the demo
 * moved by `--port-base` (every bad flag is src/cli/main.test.ts, in process).
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_PORT_OFFSETS } from "../src/demo.js";
import { eventually } from "./support/eventually.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "src", "inject", "fixtures");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: ROOT, timeout: 60_000, maxBuffer: 16 * 1024 ** 2 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin!.end(stdin ?? "");
  });
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "palisade-cli-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.concurrent("as a process", () => {
  it("--version: exit 0, the version alone on stdout", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      version: string;
    };
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("a bad flag: exit 2, one line and the way to help on stderr, nothing on stdout", async () => {
    expect(await cli(["run", "--config"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "palisade run: Option '-c, --config <value>' argument missing\n" +
        "Run 'palisade run --help' for usage.\n",
    });
  });

  it("an unreadable file is one line, exit 2", async () => {
    const { code, stderr } = await cli([
      "inject",
      "-f",
      join(scratch, "absent.yaml"),
      "--tenants",
      "a",
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^palisade inject: .*ENOENT.*absent\.yaml/);
  });
});

describe.concurrent("inject and uninject through a pipe", () => {
  it("reads stdin, writes YAML to stdout, and uninject gives the input back", async () => {
    const input = await readFile(join(FIXTURES, "statefulset.yaml"), "utf8");
    const injected = await cli(["inject", "-f", "-", "--tenants", "acme"], input);
    expect({ code: injected.code, stderr: injected.stderr }).toEqual({ code: 0, stderr: "" });
    expect(injected.stdout).toContain("palisade.dev/injected");
    expect(injected.stdout).toContain("image: ghcr.io/palisade-mesh/palisade:0.1.0\n");
    const again = await cli(["inject", "-f", "-", "--tenants", "acme"], injected.stdout);
    expect(again.stdout).toBe(injected.stdout);
    const back = await cli(["uninject", "-f", "-"], injected.stdout);
    expect(back).toEqual({ code: 0, stdout: input, stderr: "" });
  });

  it("warns on stderr for each pod it leaves, exit 0", async () => {
    const file = join(FIXTURES, "refused.yaml");
    const { code, stdout, stderr } = await cli(["inject", "-f", file, "--tenants", "acme"]);
    expect(code).toBe(0);
    expect(stdout).toBe(await readFile(file, "utf8"));
    expect(stderr.trimEnd().split("\n")).toHaveLength(6);
    expect(stderr).toMatch(
      /^palisade inject: warning: document 1, Pod\/node-exporter: uses hostNetwork/,
    );
  });

  it("refuses unparsable YAML with exit 2 and writes nothing to stdout", async () => {
    const input = "apiVersion: v1\nkind: Pod\n---\nkind: [unclosed\n";
    const { code, stdout, stderr } = await cli(["inject", "-f", "-", "--tenants", "acme"], input);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toMatch(/^palisade inject: cannot parse the input: document 2: /);
  });
});

describe("palisade demo --port-base", () => {
  it("moves every port by the base, keeping the layout; exit 0 on SIGTERM", async () => {
    const base = await freeBase();
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli.ts",
        "demo",
        "--port-base",
        String(base),
        "--dir",
        join(scratch, "demo"),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = once(child, "exit");
    try {
      await eventually(() => stdout.includes("Ctrl-C to stop"), `the demo up (${stderr})`, 60_000);
      const at = (name: keyof typeof DEMO_PORT_OFFSETS) => base + DEMO_PORT_OFFSETS[name];
      expect(stdout).toContain(`https://acme.web.mesh.local:${at("webInbound")}/`);
      expect(stdout).toContain(`https://acme.orders.mesh.local:${at("ordersInbound")}/`);
      expect(stdout).toContain(`http://127.0.0.1:${at("ordersAdmin")}/metrics`);
      for (const name of ["webAdmin", "ordersAdmin", "webStats", "ordersStats"] as const) {
        const answer = await request(`http://127.0.0.1:${at(name)}/healthz`);
        await answer.body.dump();
        expect(answer.statusCode).toBe(200);
      }
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = await exited;
    expect(code).toBe(0);
  }, 90_000);

  it("a port already taken is one line naming it, exit 1, and nothing left listening", async () => {
    const base = await freeBase();
    const blocker = await listen(base + DEMO_PORT_OFFSETS.ordersInbound);
    try {
      const { code, stderr } = await cli([
        "demo",
        "--port-base",
        String(base),
        "--dir",
        join(scratch, "demo-taken"),
      ]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^palisade demo: cannot listen: .*another --port-base avoids it\n$/);
      // It exited, so what it opened before the clash (the orders app) was closed.
      const app = await listen(base + DEMO_PORT_OFFSETS.ordersApp);
      app.close();
    } finally {
      blocker.close();
    }
  }, 90_000);
});

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** A base whose demo ports are all free now (other tests and processes share the host). */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const taken: Server[] = [];
    try {
      for (const offset of Object.values(DEMO_PORT_OFFSETS))
        taken.push(await listen(base + offset));
      return base;
    } catch {
      // one was taken: try another base
    } finally {
      await Promise.all(taken.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error("no free demo port base found");
}
