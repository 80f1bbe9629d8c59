/**
 * `palisade probe` against real sidecars: the demo mesh and a hardened sidecar hold every
 * case; a deliberately weakened policy and a stand-in proxy that trusts every tenant's CA
 * and caches by path alone are reported as leaks, with exit code 1.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo, type RunningDemo } from "../src/demo.js";
import { runProbe, type ProbeOptions } from "../src/probe/index.js";
import type { CaseResult } from "../src/probe/cases.js";
import { startApp, type TestApp } from "./support/app.js";
import {
  baseConfig,
  makePki,
  startSidecar,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "..", "dist", "cli.js");

interface Report {
  passed: number;
  failed: number;
  cases: CaseResult[];
}

async function probeCli(args: string[]): Promise<{ code: number; report: Report }> {
  const result = await run(process.execPath, [CLI, "probe", "--format", "json", ...args], {
    timeout: 120_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: unknown) => {
      const { code, stdout } = err as { code?: number; stdout?: string };
      return { code: code ?? -1, stdout: stdout ?? "" };
    },
  );
  return { code: result.code, report: JSON.parse(result.stdout) as Report };
}

async function probeInProcess(
  options: Omit<ProbeOptions, "format" | "prefix" | "timeoutMs" | "out"> & { prefix?: string },
): Promise<{ code: number; report: Report }> {
  let text = "";
  const code = await runProbe({
    prefix: "/tenants/{tenant}",
    format: "json",
    timeoutMs: 10_000,
    ...options,
    out: (t) => (text += t),
  });
  return { code, report: JSON.parse(text) as Report };
}

const failedNames = (report: Report) =>
  report.cases.filter((c) => !c.pass && c.skipped === undefined).map((c) => c.name);

describe("against the demo mesh", () => {
  let dir: string;
  let demo: RunningDemo;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "palisade-probe-demo-"));
    demo = await startDemo({ dir, portBase: 0 });
  }, 60_000);
  afterAll(async () => {
    await demo?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("every case holds, and the exit code is 0", async () => {
    const { code, report } = await probeCli([
      ...["--target", `127.0.0.1:${demo.ports.ordersInbound}`, "--pki", demo.pki],
      ...["--tenant", "acme", "--other", "globex", "--allow-writes", "--deadline", "60s"],
    ]);
    expect(failedNames(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.passed).toBeGreaterThan(30);
  }, 120_000);
});

describe("against sidecars of its own", () => {
  let pki: Pki;
  let app: TestApp;
  const sidecars: RunningSidecar[] = [];

  beforeAll(async () => {
    pki = await makePki(["acme", "globex"], ["orders"]);
    // Cacheable answers, so cross-tenant cache reads have something to find.
    app = await startApp((req, res) => {
      const text = JSON.stringify({ url: req.url, tenant: req.headers["x-palisade-tenant"] });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" });
      res.end(text);
    });
  });
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await app?.close();
    await rm(pki.dir, { recursive: true, force: true });
  });

  async function sidecar(extra: Record<string, unknown> = {}): Promise<string> {
    const config = baseConfig(pki, "orders", ["acme", "globex"], app.url);
    const inbound = config["inbound"] as Record<string, unknown>;
    Object.assign(inbound, { cache: { enabled: true }, timeouts: { headers: "2s" } });
    const running = await startSidecar({
      ...config,
      ...extra,
      telemetry: { logs: { level: "error" } },
    });
    sidecars.push(running);
    return running.inbound.replace("https://", "");
  }

  it("a hardened sidecar with caching on holds every case", async () => {
    const target = await sidecar();
    const { code, report } = await probeInProcess({
      target,
      pki: pki.dir,
      tenant: "globex",
      other: "acme",
      allowWrites: true,
      deadlineMs: 30_000,
    });
    expect(failedNames(report)).toEqual([]);
    expect(code).toBe(0);
  }, 120_000);

  it("over-broad-grant: a grant to every path and method of another tenant is reported as a leak", async () => {
    const target = await sidecar({
      grants: [
        {
          id: "too-wide",
          from: "acme",
          to: "globex",
          methods: ["GET", "POST", "PUT", "DELETE"],
          paths: ["/tenants/globex/**"],
          expires: new Date(Date.now() + 86_400_000).toISOString(),
        },
      ],
    });
    const { code, report } = await probeInProcess({
      target,
      pki: pki.dir,
      tenant: "acme",
      other: "globex",
      allowWrites: true,
      deadlineMs: 30_000,
    });
    expect(code).toBe(1);
    expect(failedNames(report)).toEqual(
      expect.arrayContaining(["cross-tenant-read", "cross-tenant-post", "cross-tenant-delete"]),
    );
  }, 120_000);

  it("shared-trust-and-path-keyed-cache: a stand-in proxy's leaks are reported, exit 1", async () => {
    const standIn = await startLeakyProxy(pki, app.url);
    try {
      const { code, report } = await probeCli([
        ...["--target", `127.0.0.1:${standIn.port}`, "--pki", pki.dir],
        ...["--tenant", "acme", "--other", "globex", "--deadline", "3s"],
      ]);
      expect(code).toBe(1);
      expect(failedNames(report)).toEqual(
        expect.arrayContaining([
          "own-ca-claims-other",
          "cross-tenant-read",
          "spoofed-tenant-header",
          "cross-tenant-cache-read",
          "silent-tcp-connection",
          "header-count-flood",
        ]),
      );
    } finally {
      await standIn.close();
    }
  }, 120_000);
});

/**
 * What Palisade exists to replace: an mTLS proxy that trusts the union of the tenants' CAs
 * (so one tenant's CA can mint another's identity), reads the tenant from the SAN alone,
 * checks no target, and caches by path without the tenant.
 */
async function startLeakyProxy(
  pki: Pki,
  appUrl: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const cache = new Map<string, string>();
  const server: Server = createServer(
    {
      cert: await pki.cert("acme", "orders"),
      key: await pki.key("acme", "orders"),
      ca: [await pki.ca("acme"), await pki.ca("globex")],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const raw = (req.socket as TLSSocket).getPeerCertificate().raw;
      const san = raw ? (new X509Certificate(raw).subjectAltName ?? "") : "";
      const tenant = /tenant\/([a-z0-9-]+)\//.exec(san)?.[1] ?? "unknown";
      const key = req.url ?? "/";
      const hit = cache.get(key);
      const body = hit ?? JSON.stringify({ servedFor: tenant, url: key, app: appUrl });
      cache.set(key, body);
      res.writeHead(200, {
        "content-type": "application/json",
        "x-palisade-cache": hit ? "hit" : "miss",
      });
      res.end(body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The PKI files the probe reads are the ones `palisade certs init` writes.
it("reads the layout palisade certs init writes", async () => {
  const pki = await makePki(["acme"], ["orders"]);
  try {
    expect(await readFile(join(pki.dir, "acme", "ca.key"), "utf8")).toContain("PRIVATE KEY");
  } finally {
    await rm(pki.dir, { recursive: true, force: true });
  }
});
