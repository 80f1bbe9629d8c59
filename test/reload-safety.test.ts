/**
 * Reload safety, attacked through a real sidecar: a config file written in two steps must
 * never be applied half-written, and a config that `palisade check` calls an error (two
 * tenants sharing a CA, a grant that opens a whole tenant) is refused on reload and on
 * `palisade run`, so one tenant's CA can never mint another's identity.
 */
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type AppHandler, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, TRUST_DOMAIN, type LogLine } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { PinnedClient, type Credentials } from "./support/tls-client.js";
import { Sidecar } from "../src/sidecar.js";
import { issueSvid, type CertAndKey } from "../src/tls/dev-pki.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const REPORT = { id: "q3", total: 1234, margin: 0.42, secret: "acme-only" };
const reports: AppHandler = (_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(REPORT));
};

let app: TestApp;
let root: string;
let acmeCa: CertAndKey;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app(reports);
  root = await mkdtemp(join(tmpdir(), "palisade-reload-safety-"));
  mesh.defer(() => rm(root, { recursive: true, force: true }));
  acmeCa = {
    certPem: await mesh.pki.ca("acme"),
    keyPem: await readFile(join(mesh.pki.dir, "acme", "ca.key"), "utf8"),
  };
});

const future = new Date(Date.now() + 20 * 86_400_000).toISOString();

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  base["telemetry"] = { logs: { level: "info", access: false } };
  return { ...base, ...extra };
}

/** globex's CA bundle also holds acme's CA: lint's `shared_ca`, but every tenant still loads. */
async function sharedCaConfig(): Promise<Record<string, unknown>> {
  const bundle = join(root, "globex-and-acme-ca.crt");
  await writeFile(bundle, `${await mesh.pki.ca("globex")}${await mesh.pki.ca("acme")}`);
  const c = config();
  const tenants = c["tenants"] as Record<string, Record<string, string>>;
  tenants["globex"]!["ca"] = bundle;
  return c;
}

interface Running {
  sidecar: Sidecar;
  file: string;
  logs: LogLine[];
  port: number;
  admin: string;
}

async function start(name: string, text: string, settleMs = 1_000): Promise<Running> {
  const file = join(root, `${name}.yaml`);
  await writeFile(file, text);
  const logs: LogLine[] = [];
  const sidecar = await Sidecar.start({
    configFile: file,
    logStream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
    watch: { debounceMs: 20 },
    settleMs,
  });
  const a = sidecar.addresses();
  return { sidecar, file, logs, port: a.inbound.port, admin: `http://127.0.0.1:${a.admin.port}` };
}

async function reloadCount(admin: string, result: "success" | "failure"): Promise<number> {
  const text = (await send(undefined, `${admin}/metrics`)).text;
  const match = new RegExp(
    `palisade_config_reloads_total\\{result="${result}"[^}]*\\} (\\d+)`,
  ).exec(text);
  return Number(match?.[1] ?? 0);
}

async function client(port: number, tenant: string, cert?: CertAndKey): Promise<PinnedClient> {
  const credentials: Credentials = {
    cert: cert?.certPem ?? (await mesh.pki.cert(tenant, "web")),
    key: cert?.keyPem ?? (await mesh.pki.key(tenant, "web")),
    ca: await mesh.pki.ca(tenant),
    servername: `${tenant}.orders.${TRUST_DOMAIN}`,
  };
  return new PinnedClient(port, credentials);
}

/** A request that fails (handshake refused, connection cut) answers status 0. */
async function statusOf(c: PinnedClient, path: string): Promise<number> {
  return c.get(path).then(
    (r) => r.status,
    () => 0,
  );
}

describe("half-written config", () => {
  it("half-written-config-shares-whole-document", async () => {
    const grant = {
      id: "globex-reports",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      // Last key of the last grant, last in the file: a writer that has not reached it yet
      // leaves a valid grant that shares the whole document.
      fields: ["id", "total"],
    };
    const final = stringify(config({ grants: [{ expires: future, ...grant }] }));
    const cut = final.indexOf("    fields:");
    expect(cut).toBeGreaterThan(0);
    const m = await start("two-step", stringify(config()), 3_000);
    const globex = await client(m.port, "globex");
    const seen: string[] = [];
    let polling = true;
    let sent = 0;
    const poll = (async () => {
      while (polling) {
        sent++;
        const r = await globex.get("/tenants/acme/reports/q3").catch(() => undefined);
        if (r?.status === 200) seen.push(r.body);
      }
    })();
    try {
      const id = m.sidecar.generation.id;
      expect(await statusOf(globex, "/tenants/acme/reports/q3")).toBe(403);
      // Step one: everything up to `fields:`; it parses, and it validates.
      await writeFile(m.file, final.slice(0, cut));
      const sentBefore = sent;
      // A slow writer: the second step lands once the first was applied, or after a pause
      // a tenth of the settle interval (the pause is the attack, not a readiness wait).
      const pauseEnds = Date.now() + 300;
      await eventually(
        () => m.sidecar.generation.id !== id || Date.now() > pauseEnds,
        "the first half to be applied or the writer's pause to end",
        10_000,
        10,
      );
      // Requests are made while only the first half is on disk; however busy the machine,
      // the second half lands within a third of the settle interval, so a reload that took
      // the half-written bytes would be this code's fault, not the test's timing.
      const windowEnds = Date.now() + 1_000;
      await eventually(
        () => sent > sentBefore + 2 || Date.now() > windowEnds,
        "requests during the half-written window",
      );
      await appendFile(m.file, final.slice(cut));
      await eventually(
        () => seen.some((b) => (JSON.parse(b) as { total?: unknown }).total === 1234),
        "the projected grant to apply",
        15_000,
      );
      polling = false;
      await poll;
      // Nothing but the projection ever crossed.
      for (const body of seen) expect(JSON.parse(body)).toEqual({ id: "q3", total: 1234 });
      expect(m.sidecar.generation.config.grants[0]?.fields).toEqual(["id", "total"]);
      // One generation: the half-written file was never applied, not even for a moment.
      expect(m.sidecar.generation.id).toBe(id + 1);
    } finally {
      polling = false;
      await poll;
      globex.close();
      await m.sidecar.stop();
    }
  });
});

describe("a reload that lint calls an error is refused", () => {
  it("reload-to-shared-ca-is-applied", async () => {
    const m = await start("shared-ca", stringify(config()), 50);
    // acme's CA mints a globex identity: it must never pass as globex.
    const forged = await issueSvid(acmeCa, {
      trustDomain: TRUST_DOMAIN,
      tenant: "globex",
      service: "web",
    });
    const impostor = await client(m.port, "globex", forged);
    try {
      expect(await statusOf(impostor, "/tenants/globex/orders")).toBe(0);
      const id = m.sidecar.generation.id;
      const failures = await reloadCount(m.admin, "failure");
      await writeFile(m.file, stringify(await sharedCaConfig()));
      await eventually(
        async () =>
          (await reloadCount(m.admin, "failure")) > failures || m.sidecar.generation.id > id,
        "the reload to be decided",
      );
      expect(m.sidecar.generation.id).toBe(id);
      expect(await statusOf(impostor, "/tenants/globex/orders")).toBe(0);
      const refused = m.logs.find((l) => l.msg?.startsWith("config reload refused"));
      expect(String(refused?.["err"])).toMatch(/shared_ca.*tenants\.globex\.ca/);
      // SIGHUP takes the same road.
      expect(await m.sidecar.reload("SIGHUP")).toBe(false);
      expect(m.sidecar.generation.id).toBe(id);
    } finally {
      impostor.close();
      await m.sidecar.stop();
    }
  });

  it("reload-to-wildcard-grant-is-applied", async () => {
    const m = await start("wildcard", stringify(config()), 50);
    const globex = await client(m.port, "globex");
    try {
      const id = m.sidecar.generation.id;
      const failures = await reloadCount(m.admin, "failure");
      const open = {
        from: "globex",
        to: "acme",
        methods: ["GET"],
        paths: ["/**"],
        expires: future,
      };
      await writeFile(m.file, stringify(config({ grants: [open] })));
      await eventually(
        async () =>
          (await reloadCount(m.admin, "failure")) > failures || m.sidecar.generation.id > id,
        "the reload to be decided",
      );
      expect(m.sidecar.generation.id).toBe(id);
      expect(await statusOf(globex, "/tenants/acme/reports/q3")).toBe(403);
      // Warnings stay warnings: a narrow grant applies.
      const narrow = { ...open, paths: ["/tenants/acme/reports/**"], fields: ["id"] };
      await writeFile(m.file, stringify(config({ grants: [narrow] })));
      await eventually(() => m.sidecar.generation.id > id, "the narrow grant to apply");
      expect(await statusOf(globex, "/tenants/acme/reports/q3")).toBe(200);
    } finally {
      globex.close();
      await m.sidecar.stop();
    }
  });
});

describe("palisade run", () => {
  it("run-with-shared-ca-starts", async () => {
    const file = join(root, "run-shared-ca.yaml");
    await writeFile(file, stringify(await sharedCaConfig()));
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "src/cli.ts", "run", "-c", file],
          { cwd: ROOT, timeout: 15_000, killSignal: "SIGKILL" },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      },
    );
    expect(result.stdout).not.toContain("palisade started");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/shared_ca \(tenants\.globex\.ca\): tenants acme and globex/);
  }, 30_000);
});
