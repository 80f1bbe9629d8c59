/**
 * The Dockerfile without a container engine: its shape (stages, base image, user, ports,
 * health check, entrypoint, what each COPY takes from the context), then its build stage
 * run for real (the exact RUN lines, in a scratch copy of the context made with the
 * .dockerignore applied), its runtime stage assembled from that build, and the result
 * started: `palisade` on PATH runs a sidecar whose stats port the HEALTHCHECK passes.
 *
 * Slow (npm ci and a full compile): the last test takes a minute or two.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config/schema.js";
import { parseListen } from "../src/config/listen.js";
import {
  contextFiles,
  inContext,
  parseCopy,
  parseDockerfile,
  parseDockerignore,
  type Stage,
} from "./support/dockerfile.js";
import { baseConfig, makePki } from "./support/mesh.js";
import { eventually } from "./support/eventually.js";
import { ROOT } from "./support/deploy-manifests.js";

const run = promisify(execFile);
const dockerfile = parseDockerfile(await readFile(join(ROOT, "Dockerfile"), "utf8"));
const ignore = parseDockerignore(await readFile(join(ROOT, ".dockerignore"), "utf8"));
const [build, runtime] = dockerfile as [Stage, Stage];
const args = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const scratch: string[] = [];

afterAll(async () => {
  if (!process.env["KEEP_SCRATCH"])
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe("Dockerfile shape", () => {
  it("has a build stage and a runtime stage on one pinned Node 22+ slim base", () => {
    expect(dockerfile).toHaveLength(2);
    expect(build.name).toBe("build");
    expect(runtime.name).toBeUndefined();
    for (const stage of dockerfile) {
      const [, major] = /^node:(\d+)-[a-z]+-slim$/.exec(stage.from) ?? [];
      expect(Number(major), stage.from).toBeGreaterThanOrEqual(22);
    }
    expect(runtime.from).toBe(build.from);
  });

  it("runs as a numeric non-root user, production mode, no npm at runtime", () => {
    expect(args(runtime, "USER")).toEqual(["10001:10001"]);
    expect(args(runtime, "ENV")).toContain("NODE_ENV=production");
    expect(args(runtime, "RUN").join(" ")).not.toMatch(/\bnpm\b/);
    // The user is set after the last RUN: nothing the image ships is written as that user.
    const keywords = runtime.instructions.map((i) => i.keyword);
    expect(keywords.lastIndexOf("RUN")).toBeLessThan(keywords.indexOf("USER"));
  });

  it("exposes every listener's default port, and health-checks the stats listener", () => {
    const defaults = configSchema.parse({ service: "s", trustDomain: "d", tenants: {} });
    const ports = [defaults.inbound, defaults.outbound, defaults.admin, defaults.stats].map((l) =>
      String(parseListen(l.listen).port),
    );
    expect(
      args(runtime, "EXPOSE")
        .flatMap((a) => a.split(/\s+/))
        .sort(),
    ).toEqual(ports.sort());
    const [health] = args(runtime, "HEALTHCHECK");
    const cmd = JSON.parse(health!.slice(health!.indexOf("CMD") + 3)) as string[];
    expect(cmd[0]).toBe("node");
    expect(cmd.join(" ")).toContain(`127.0.0.1:${parseListen(defaults.stats.listen).port}/healthz`);
  });

  it("enters at `palisade run` on the mounted config", () => {
    expect(args(runtime, "ENTRYPOINT").map((a) => JSON.parse(a) as unknown)).toEqual([
      ["palisade", "run", "-c", "/etc/palisade/palisade.yaml"],
    ]);
  });

  it("copies only what exists and the .dockerignore lets through; the runtime only from build", () => {
    const context = new Set(contextFiles(ROOT, ignore));
    for (const copy of args(build, "COPY").map(parseCopy)) {
      expect(copy.from).toBeUndefined();
      for (const source of copy.sources) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(
          [...context].some((f) => f === source || f.startsWith(`${source}/`)),
          source,
        ).toBe(true);
      }
    }
    for (const copy of args(runtime, "COPY").map(parseCopy)) expect(copy.from).toBe("build");
  });

  it("the context leaves out tests, local state and secrets", () => {
    const context = contextFiles(ROOT, ignore);
    expect(context).toContain("src/cli.ts");
    expect(context).toContain("package-lock.json");
    expect(
      context.filter((f) => /\.test\.ts$|^test\/|^bench\/|^config\/example\/pki/.test(f)),
    ).toEqual([]);
    for (const path of [
      "node_modules/yaml/package.json",
      "dist/cli.js",
      ".git/HEAD",
      ".demo/pki/acme/ca.key",
    ])
      expect(inContext(ignore, path), path).toBe(false);
  });
});

describe("Dockerfile build, for real", () => {
  it("the build stage's commands produce a runtime whose `palisade` serves a passing HEALTHCHECK", async () => {
    const root = await mkdtemp(join(tmpdir(), "palisade-image-"));
    scratch.push(root);
    const buildDir = await runBuildStage(root);
    const app = await assembleRuntime(root, buildDir);
    // Production dependencies only, no sources, no maps pointing at unshipped files.
    expect(existsSync(join(app, "node_modules/yaml"))).toBe(true);
    expect(existsSync(join(app, "node_modules/typescript"))).toBe(false);
    expect(existsSync(join(app, "node_modules/vitest"))).toBe(false);
    expect(existsSync(join(app, "src"))).toBe(false);
    expect((await listFiles(join(app, "dist"))).filter((f) => f.endsWith(".map"))).toEqual([]);
    await startAndHealthCheck(root);
  }, 300_000);
});

/** Runs the build stage: WORKDIR, COPY from the filtered context, RUN with sh -c. */
async function runBuildStage(root: string): Promise<string> {
  const context = contextFiles(ROOT, ignore);
  let workdir = root;
  for (const { keyword, args } of build.instructions) {
    if (keyword === "WORKDIR") {
      workdir = join(root, args);
      await mkdir(workdir, { recursive: true });
    } else if (keyword === "COPY") {
      const copy = parseCopy(args);
      for (const source of copy.sources) {
        const files = context.filter((f) => f === source || f.startsWith(`${source}/`));
        for (const file of files) {
          // Docker copies a directory's contents into dest, and a file into dest/ by name.
          const target =
            file === source
              ? join(workdir, copy.dest, copy.dest.endsWith("/") ? basename(file) : "")
              : join(workdir, copy.dest, file.slice(source.length + 1));
          await mkdir(dirname(target), { recursive: true });
          await cp(join(ROOT, file), target);
        }
      }
    } else if (keyword === "RUN") {
      await run("sh", ["-c", args], { cwd: workdir, maxBuffer: 64 * 1024 * 1024 });
    } else throw new Error(`build stage instruction not emulated: ${keyword}`);
  }
  return workdir;
}

/**
 * The runtime stage: COPY --from=build into the scratch root, then its RUN with the image's
 * absolute paths moved under that root (the only rewrite made).
 */
async function assembleRuntime(root: string, buildDir: string): Promise<string> {
  const image = join(root, "image");
  let workdir = image;
  for (const { keyword, args } of runtime.instructions) {
    if (keyword === "WORKDIR") {
      workdir = join(image, args);
      await mkdir(workdir, { recursive: true });
    } else if (keyword === "COPY") {
      const copy = parseCopy(args);
      const from = join(buildDir, copy.sources[0]!.replace(/^\/src\/?/, ""));
      await cp(from, join(workdir, copy.dest), { recursive: true, verbatimSymlinks: true });
    } else if (keyword === "RUN") {
      await mkdir(join(image, "usr/local/bin"), { recursive: true });
      const rooted = args.replaceAll(" /", ` ${image}/`);
      await run("sh", ["-c", rooted], { cwd: workdir });
    }
  }
  return workdir;
}

/** `palisade run` through the PATH symlink, then the HEALTHCHECK's own command at its port. */
async function startAndHealthCheck(root: string): Promise<void> {
  const pki = await makePki(["acme"], ["orders"]);
  scratch.push(pki.dir);
  const configFile = join(root, "palisade.yaml");
  await writeFile(configFile, stringify(baseConfig(pki, "orders", ["acme"], "http://127.0.0.1:9")));
  const bin = join(root, "image/usr/local/bin");
  const env = { ...process.env, NODE_ENV: "production", PATH: `${bin}:${process.env["PATH"]}` };
  const [entrypoint, ...entryArgs] = JSON.parse(args(runtime, "ENTRYPOINT")[0]!) as string[];
  const child = spawn(
    entrypoint!,
    entryArgs.map((a) => (a.startsWith("/etc/palisade") ? configFile : a)),
    {
      env,
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  try {
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout }).on("line", (l) =>
      lines.push(JSON.parse(l) as Record<string, unknown>),
    );
    const started = await eventually(
      () => lines.find((l) => l["msg"] === "palisade started"),
      "palisade started",
      30_000,
    );
    const port = parseListen(String(started["stats"])).port;
    const [health] = args(runtime, "HEALTHCHECK");
    const cmd = JSON.parse(health!.slice(health!.indexOf("CMD") + 3)) as string[];
    const pointed = cmd.map((a) => a.replace("127.0.0.1:15020", `127.0.0.1:${port}`));
    await run(pointed[0]!, pointed.slice(1), { env });
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    // Nothing listens there any more: the same command now fails.
    await expect(run(pointed[0]!, pointed.slice(1), { env })).rejects.toThrow();
  } finally {
    child.kill("SIGKILL");
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
