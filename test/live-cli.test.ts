/**
 * `palisade tap` and `palisade top` as users run them (the built `dist/cli.js`, which
 * `npm test` builds first) against a running sidecar: their output is parsed, and every
 * event is one the test caused and can name by its request id.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.js";
import { startLiveMesh, type LiveMesh } from "./support/live-mesh.js";
import { withMesh } from "./support/with-mesh.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const mesh = withMesh(["acme", "globex", "initech"], ["orders", "web"]);
let live: LiveMesh;

beforeAll(async () => {
  live = await startLiveMesh(mesh);
});

interface Cli {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

const running: Cli[] = [];
afterEach(async () => {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null) cli.child.kill("SIGTERM");
    await cli.exit;
  }
});

function cli(args: string[]): Cli {
  const child = spawn(process.execPath, ["dist/cli.js", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
  const exit = once(child, "exit").then(([code]) => code as number | null);
  const made = { child, lines, stderr: () => stderr, exit };
  running.push(made);
  return made;
}

/** Waits until the sidecar counts `n` open streams: tap is subscribed, nothing is missed. */
async function streamsOpen(n: number): Promise<void> {
  await eventually(async () => (await live.top()).streams.open === n, `${n} open streams`);
}

describe("palisade tap", () => {
  it("streams only the denials with --decision denied, as JSON with the request's facts", async () => {
    const tap = cli(["tap", "--admin", live.sidecar.admin, "--decision", "denied", "--json"]);
    await streamsOpen(1);
    const allowed = await live.call("acme", "/tenants/acme/orders/1");
    const denied = await live.call("initech", "/tenants/acme/orders/1?secret=s3cr3t");
    expect([allowed.status, denied.status]).toEqual([200, 403]);
    await eventually(() => tap.lines.length >= 1, "a line from tap");
    const events = tap.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        direction: "inbound",
        tenant: "initech",
        peer: "web",
        target: "acme",
        method: "GET",
        // The query string never leaves: paths only.
        path: "/tenants/acme/orders/1",
        status: 403,
        code: "cross_tenant_denied",
        decision: "denied",
        durationMs: expect.any(Number) as unknown,
        requestId: denied.requestId,
      },
    ]);
  });

  it("prints text lines for one tenant's traffic, made by it or to it", async () => {
    const tap = cli(["tap", "--admin", live.sidecar.admin, "--tenant", "globex"]);
    await streamsOpen(1);
    await live.call("acme", "/tenants/acme/orders/2"); // neither by nor to globex
    const granted = await live.call("globex", "/tenants/acme/reports/q3");
    const own = await live.call("globex", "/tenants/globex/orders/3");
    await eventually(() => tap.lines.length >= 2, "two lines from tap");
    const pattern =
      /^(\S+) (inbound|outbound) (\S+) -> (\S+) (\S+) (\S+) (\d{3}) (\w+)(?: (\w+))? ([\d.]+)ms (\S+)$/;
    const parsed = tap.lines.map((l) => {
      const m = pattern.exec(l);
      expect(m, l).not.toBeNull();
      return m ?? [];
    });
    expect(parsed.map((m) => [m[3], m[4], m[6], m[7], m[8], m[11]])).toEqual([
      ["globex/web", "acme", "/tenants/acme/reports/q3", "200", "granted", granted.requestId],
      ["globex/web", "globex", "/tenants/globex/orders/3", "200", "allowed", own.requestId],
    ]);
  });

  it("exits 1 with one line when the admin listener does not answer", async () => {
    const tap = cli(["tap", "--admin", "http://127.0.0.1:1"]);
    expect(await tap.exit).toBe(1);
    expect(tap.stderr()).toMatch(/^palisade tap: http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  it.each([
    [["--decision", "maybe"], /--decision must be one of allowed, granted, denied, refused/],
    [["--tenant", "Acme"], /--tenant must be a tenant id/],
    [["--admin", "ftp://x"], /--admin must be an http URL/],
    [["--follow"], /Unknown option '--follow'/],
  ])("refuses %j with exit 2", async (args, message) => {
    const tap = cli(["tap", ...args]);
    expect(await tap.exit).toBe(2);
    expect(tap.stderr()).toMatch(message);
  });
});

describe("palisade top --once", () => {
  it("prints one table per direction, tenant and peer with rps, success, quantiles, denials", async () => {
    for (let i = 0; i < 3; i++) await live.call("initech", `/tenants/acme/x/${i}`);
    await live.call("initech", "/tenants/initech/own");
    await live.call("globex", "/tenants/acme/reports/q4");
    const top = cli(["top", "--once", "--admin", live.sidecar.admin]);
    expect(await top.exit).toBe(0);
    const [title, blank, header, ...rows] = top.lines;
    expect(title).toMatch(/^palisade top {2}http:\/\/127\.0\.0\.1:\d+ {2}window 10s {2}\d{4}-/);
    expect(blank).toBe("");
    expect(header?.split(/\s+/)).toEqual([
      "DIRECTION",
      "TENANT",
      "PEER",
      "RPS",
      "SUCCESS",
      "P50",
      "P99",
      "DENIALS",
    ]);
    const byTenant = new Map(rows.map((r) => r.split(/\s+/)).map((c) => [`${c[1]}/${c[2]}`, c]));
    const initech = byTenant.get("initech/web");
    // 4 requests (3 denied) or more if an earlier test's calls are still in the window.
    expect(initech?.[0]).toBe("inbound");
    expect(Number(initech?.[3])).toBeGreaterThan(0);
    expect(initech?.[4]).toMatch(/^\d+\.\d%$/);
    expect(initech?.[5]).toMatch(/^[\d.]+ms$/);
    expect(initech?.[6]).toMatch(/^[\d.]+ms$/);
    expect(Number(initech?.[7])).toBeGreaterThanOrEqual(3);
    expect(byTenant.get("globex/web")?.[7]).toBe("0");
  });

  it("without --once, clears the screen and redraws every interval", async () => {
    const top = cli(["top", "--interval", "1", "--admin", live.sidecar.admin]);
    const clear = "\u001b[H\u001b[2J";
    await eventually(
      () => top.lines.filter((l) => l.startsWith(`${clear}palisade top `)).length >= 2,
      "two screens",
    );
    expect(top.child.exitCode).toBeNull();
  });

  it("refuses a bad --interval with exit 2", async () => {
    const top = cli(["top", "--interval", "0"]);
    expect(await top.exit).toBe(2);
    expect(top.stderr()).toMatch(/--interval must be a whole number/);
  });
});
