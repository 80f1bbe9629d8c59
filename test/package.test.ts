/**
 * The npm package as a user installs it: `npm pack` holds what an installed `palisade`
 * needs and nothing else (no tests, fixtures, sources or development files), its source
 * maps carry their sources, and from the unpacked tarball `palisade init` writes a config
 * that `palisade check` passes. Runs on the built `dist/` (`npm test` builds first).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

interface PackEntry {
  name: string;
  version: string;
  filename: string;
  files: Array<{ path: string; size: number }>;
}

/** What may ship: the build, the config users copy, rules and dashboards, the legal files. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^dist\/.+\.js(\.map)?$/,
  /^config\/palisade\.schema\.json$/,
  /^config\/example\/palisade\.yaml$/,
  /^config\/prometheus\/(palisade-rules|prometheus\.example)\.yml$/,
  /^dashboards\/[a-z-]+\.json$/,
];
/** What an installed `palisade` reads at run time. */
const REQUIRED = [
  "LICENSE",
  "dist/cli.js",
  "dist/cli/init.js",
  "dist/inject/command.js",
  "config/example/palisade.yaml",
  "config/palisade.schema.json",
];

async function pack(args: string[]): Promise<PackEntry> {
  // --ignore-scripts: `prepare` would rebuild dist/ under the other tests' feet.
  const { stdout } = await run(NPM, ["pack", "--json", "--ignore-scripts", ...args], {
    cwd: ROOT,
    timeout: 120_000,
    maxBuffer: 16 * 1024 ** 2,
  });
  const [entry] = JSON.parse(stdout) as PackEntry[];
  if (!entry) throw new Error(`npm pack printed no entry: ${stdout}`);
  return entry;
}

let scratch: string;
let listing: PackEntry;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "palisade-package-"));
  listing = await pack(["--dry-run"]);
}, 120_000);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("npm pack --dry-run", () => {
  it("is published under the project's own scope, with the palisade command", async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      name: string;
      license: string;
      bin: Record<string, string>;
      publishConfig?: { access?: string };
    };
    expect(listing.name).toBe("@palisade-mesh/palisade");
    expect(manifest).toMatchObject({
      license: "Apache-2.0",
      bin: { palisade: "dist/cli.js" },
      publishConfig: { access: "public" },
    });
    // `env -S` splits the line, so the bin runs Node with its flag (src/cli.ts says why).
    expect(await readFile(join(ROOT, "dist", "cli.js"), "utf8")).toMatch(
      /^#!\/usr\/bin\/env -S node --max-semi-space-size=8\n/,
    );
  });

  it("holds what an installed user needs", () => {
    const paths = listing.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(REQUIRED));
  });

  it("and nothing else: no tests, fixtures, test support, sources or development files", () => {
    const unexpected = listing.files
      .map((f) => f.path)
      .filter((path) => !ALLOWED.some((pattern) => pattern.test(path)));
    expect(unexpected).toEqual([]);
    const testish = listing.files.filter((f) => /\.test\.|test-support|fixtures\//.test(f.path));
    expect(testish).toEqual([]);
  });

  it("ships the Apache-2.0 text the manifest names", async () => {
    const license = await readFile(join(ROOT, "LICENSE"), "utf8");
    expect(license).toMatch(/^\s+Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain("END OF TERMS AND CONDITIONS");
  });

  it("has source maps that carry their sources (src/ is not shipped)", async () => {
    const maps = listing.files.filter((f) => f.path.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    for (const { path } of maps) {
      const map = JSON.parse(await readFile(join(ROOT, path), "utf8")) as {
        sources: string[];
        sourcesContent?: Array<string | null>;
      };
      expect(map.sourcesContent?.length, path).toBe(map.sources.length);
      expect(
        map.sourcesContent?.every((s) => typeof s === "string" && s.length > 0),
        path,
      ).toBe(true);
    }
  });
});

describe("the unpacked tarball", () => {
  let cli: string;
  beforeAll(async () => {
    const tarball = await pack(["--pack-destination", scratch]);
    await run("tar", ["-xzf", join(scratch, tarball.filename), "-C", scratch]);
    // Dependencies as `npm install` would resolve them, without the network.
    await symlink(join(ROOT, "node_modules"), join(scratch, "package", "node_modules"), "dir");
    cli = join(scratch, "package", "dist", "cli.js");
  }, 120_000);

  const palisade = (args: string[]) =>
    run(process.execPath, [cli, ...args], { cwd: scratch, timeout: 60_000 });

  it("reports its version and injects with its own image", async () => {
    const { stdout } = await palisade(["--version"]);
    expect(stdout).toBe(`${listing.version}\n`);
    const fixture = join(ROOT, "src", "inject", "fixtures", "deployment.yaml");
    const injected = await palisade(["inject", "-f", fixture, "--tenants", "acme"]);
    expect(injected.stdout).toContain(`image: ghcr.io/palisade-mesh/palisade:${listing.version}\n`);
  });

  it("palisade init writes a config, schema and dev PKI that palisade check passes", async () => {
    const { stdout } = await palisade(["init", "my-mesh"]);
    expect(stdout).toContain("next: palisade check -c my-mesh/palisade.yaml");
    const config = await readFile(join(scratch, "my-mesh", "palisade.yaml"), "utf8");
    expect(config).toMatch(/^# yaml-language-server: \$schema=palisade\.schema\.json\n/);
    await readFile(join(scratch, "my-mesh", "palisade.schema.json"), "utf8");
    const check = await palisade(["check", "-c", "my-mesh/palisade.yaml", "--format", "json"]);
    const placeholder = await readFile(join(ROOT, "config/example/pki/projection-hash.key"));
    const key = await readFile(join(scratch, "my-mesh/pki/projection-hash.key"));
    expect(key.length).toBeGreaterThanOrEqual(16);
    expect(key.equals(placeholder)).toBe(false);
    expect(JSON.parse(check.stdout)).toMatchObject({ usable: true });
    // A second init keeps the user's edits unless told otherwise.
    await expect(palisade(["init", "my-mesh"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("my-mesh/palisade.yaml exists; --force overwrites it"),
    });
    await palisade(["init", "my-mesh", "--force"]);
  }, 60_000);
});
