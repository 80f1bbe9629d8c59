/**
 * `palisade check --diff` as CI runs it: the real CLI in a child process on config files,
 * with the exit codes a pipeline keys on (0, 1 with --deny-widening when a path opens, 2
 * for a file that cannot be used, naming the file and the key path).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const FILES = { ca: "missing/ca.crt", cert: "missing/x.crt", key: "missing/x.key" };

function policy(paths: string[], extra: Record<string, unknown> = {}): string {
  return stringify({
    service: "orders",
    trustDomain: "mesh.local",
    inbound: { target: { path: "/tenants/{tenant}/**" } },
    tenants: { acme: FILES, globex: FILES },
    grants: [
      { from: "globex", to: "acme", methods: ["GET"], paths, expires: "2099-01-01T00:00:00Z" },
    ],
    ...extra,
  });
}

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-diff-"));
  await writeFile(file("narrow.yaml"), policy(["/tenants/acme/reports/q3/**"]));
  await writeFile(file("wide.yaml"), policy(["/tenants/acme/reports/**"]));
  await writeFile(file("bad-glob.yaml"), policy(["/tenants/acme/%72eports"]));
  await writeFile(file("bad-key.yaml"), policy(["/x"], { grantz: [] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.concurrent("palisade check --diff", () => {
  it("widening: prints the opened and covered lines; exit 0, or 1 with --deny-widening", async () => {
    const args = ["check", "--diff", file("narrow.yaml"), file("wide.yaml")];
    const plain = await cli(args);
    expect(plain).toEqual({
      code: 0,
      stderr: "",
      stdout: [
        "+ globex -> acme GET /tenants/acme/reports/**",
        "- globex -> acme GET /tenants/acme/reports/q3/** (still open under /tenants/acme/reports/**)",
        "# 1 widening, 1 narrowing or covered",
        "",
      ].join("\n"),
    });
    const strict = await cli([...args, "--deny-widening"]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toBe(plain.stdout);
  });

  it("narrowing passes --deny-widening (exit 0)", async () => {
    const result = await cli([
      "check",
      "--diff",
      file("wide.yaml"),
      file("narrow.yaml"),
      "--deny-widening",
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^- globex -> acme GET \/tenants\/acme\/reports\/\*\*$/m);
  });

  it("an unusable file exits 2 naming the file and the key path", async () => {
    const glob = await cli(["check", "--diff", file("narrow.yaml"), file("bad-glob.yaml")]);
    expect(glob.code).toBe(2);
    expect(glob.stdout).toBe("");
    expect(glob.stderr).toContain(`${file("bad-glob.yaml")}: grants.0.paths.0: invalid path glob`);
    const key = await cli(["check", "--diff", file("bad-key.yaml"), file("wide.yaml")]);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain(`${file("bad-key.yaml")}: grantz: unknown key`);
    const missing = await cli(["check", "--diff", file("absent.yaml"), file("wide.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${file("absent.yaml")}: cannot read`);
  });

  it("a usage error exits 2", async () => {
    expect((await cli(["check", "--diff", file("wide.yaml")])).code).toBe(2);
    expect((await cli(["check", "-c", file("wide.yaml"), "--deny-widening"])).code).toBe(2);
  });
});
