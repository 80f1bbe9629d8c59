/**
 * Reloads the way Kubernetes delivers them: a ConfigMap directory and a Secret directory
 * (separate mounts) whose `..data` symlink is swapped atomically, under steady load over
 * keep-alive and new connections, with a broken config in the middle. Then a plain edit,
 * and certificate rotation seen from an open keep-alive connection and from new ones.
 */
import { X509Certificate } from "node:crypto";
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Agent, request } from "undici";
import { stringify } from "yaml";
import { type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, TRUST_DOMAIN, type LogLine } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { PinnedClient, serverFingerprint, type Credentials } from "./support/tls-client.js";
import { Sidecar } from "../src/sidecar.js";
import { createCa, issueSvid, type CertAndKey } from "../src/tls/dev-pki.js";

let app: TestApp;
let root: string;
let acmeCa: CertAndKey;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app();
  root = await mkdtemp(join(tmpdir(), "palisade-reload-"));
  mesh.defer(() => rm(root, { recursive: true, force: true }));
  acmeCa = {
    certPem: await mesh.pki.ca("acme"),
    keyPem: await readFile(join(mesh.pki.dir, "acme", "ca.key"), "utf8"),
  };
});

let swaps = 0;

/**
 * What kubelet's AtomicWriter does: write a fresh timestamped directory, point
 * `..data_tmp` at it, rename over `..data` (the one atomic step), link each name through
 * `..data`, and remove the old directory.
 */
async function atomicUpdate(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = `..2026_01_01_00_00_${String(++swaps).padStart(2, "0")}.${process.pid}`;
  await mkdir(join(dir, stamp));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, stamp, name), text);
  const old = await readlink(join(dir, "..data")).catch(() => undefined);
  await symlink(stamp, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of Object.keys(files)) {
    const link = join(dir, name);
    const exists = await lstat(link).then(
      () => true,
      () => false,
    );
    if (!exists) await symlink(join("..data", name), link);
  }
  if (old) await rm(join(dir, old), { recursive: true, force: true });
}

interface Mounted {
  sidecar: Sidecar;
  logs: LogLine[];
  inboundPort: number;
  admin: string;
  configDir: string;
  secretDir: string;
}

function svidPem(cert: CertAndKey) {
  return { "tls.crt": cert.certPem, "tls.key": cert.keyPem };
}

async function mountedSidecar(name: string): Promise<Mounted> {
  const configDir = join(root, name, "config");
  const secretDir = join(root, name, "secrets", "acme");
  await atomicUpdate(secretDir, {
    "ca.crt": await mesh.pki.ca("acme"),
    "tls.crt": await mesh.pki.cert("acme", "orders"),
    "tls.key": await mesh.pki.key("acme", "orders"),
  });
  await atomicUpdate(configDir, { "palisade.yaml": stringify(config(secretDir, ["acme"])) });
  const logs: LogLine[] = [];
  const sidecar = await Sidecar.start({
    configFile: join(configDir, "palisade.yaml"),
    logStream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
    watch: { debounceMs: 50 },
  });
  const a = sidecar.addresses();
  return {
    sidecar,
    logs,
    inboundPort: a.inbound.port,
    admin: `http://127.0.0.1:${a.admin.port}`,
    configDir,
    secretDir,
  };
}

/** acme's files come from the Secret mount; any other tenant from the dev PKI. */
function config(secretDir: string, tenants: string[], extra: Record<string, unknown> = {}) {
  const base = baseConfig(mesh.pki, "orders", tenants, app.url);
  const t = base["tenants"] as Record<string, unknown>;
  t["acme"] = {
    ca: join(secretDir, "ca.crt"),
    cert: join(secretDir, "tls.crt"),
    key: join(secretDir, "tls.key"),
  };
  base["telemetry"] = { logs: { level: "info", access: false } };
  return { ...base, ...extra };
}

async function reloadCount(admin: string, result: "success" | "failure"): Promise<number> {
  const text = (await send(undefined, `${admin}/metrics`)).text;
  const match = new RegExp(
    `palisade_config_reloads_total\\{result="${result}"[^}]*\\} (\\d+)`,
  ).exec(text);
  return Number(match?.[1] ?? -1);
}

async function acmeCredentials(servername = true): Promise<Credentials> {
  return {
    cert: await mesh.pki.cert("acme", "web"),
    key: await mesh.pki.key("acme", "web"),
    ca: await mesh.pki.ca("acme"),
    ...(servername ? { servername: `acme.orders.${TRUST_DOMAIN}` } : {}),
  };
}

interface LoadFigures {
  sent: number;
  ok: number;
  failed: number;
  lost: number;
  failures: string[];
}

/**
 * Keep-alive workers share one pooled client; fresh-connection workers open a new TLS
 * connection per request. Every request must be answered 200.
 */
function startLoad(port: number, credentials: Credentials) {
  const figures: LoadFigures = { sent: 0, ok: 0, failed: 0, lost: 0, failures: [] };
  let running = true;
  const connect = {
    ...credentials,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
  };
  const pooled = new Agent({ connections: 4, connect });
  const url = `https://127.0.0.1:${port}/tenants/acme/orders`;
  const once = async (dispatcher: Agent) => {
    figures.sent++;
    try {
      const res = await request(url, { dispatcher, headersTimeout: 30_000, bodyTimeout: 30_000 });
      await res.body.text();
      if (res.statusCode === 200) figures.ok++;
      else {
        figures.failed++;
        figures.failures.push(`status ${res.statusCode}`);
      }
    } catch (err) {
      figures.lost++;
      figures.failures.push((err as Error).message);
    }
  };
  const keepAlive = async () => {
    while (running) await once(pooled);
  };
  const fresh = async () => {
    while (running) {
      const agent = new Agent({ connections: 1, connect });
      await once(agent);
      await agent.close();
    }
  };
  const workers = [keepAlive(), keepAlive(), keepAlive(), fresh(), fresh()];
  let stopped: Promise<LoadFigures> | undefined;
  return {
    figures,
    stop(): Promise<LoadFigures> {
      running = false;
      stopped ??= Promise.all(workers)
        .then(() => pooled.close())
        .then(() => figures);
      return stopped;
    },
  };
}

describe("reload under steady load", () => {
  it("applies repeated ..data swaps, refuses a broken config, and drops no request", async () => {
    const m = await mountedSidecar("load");
    const load = startLoad(m.inboundPort, await acmeCredentials());
    const generationAfter = (id: number) =>
      eventually(() => m.sidecar.generation.id > id, `generation > ${id}`, 30_000, 10);
    const atLeast = async (n: number) => eventually(() => load.figures.ok >= n, `${n} answers`);
    try {
      await atLeast(50);
      let id = m.sidecar.generation.id;
      const swapsDone: string[] = [];

      // 1. Secret swap: a new serving certificate (YAML untouched).
      const rotated = await issueSvid(
        acmeCa,
        { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "orders" },
        { keyPem: await mesh.pki.key("acme", "orders") },
      );
      await atomicUpdate(m.secretDir, { "ca.crt": await mesh.pki.ca("acme"), ...svidPem(rotated) });
      await generationAfter(id++);
      swapsDone.push("secret: rotate serving certificate");
      await atLeast(load.figures.ok + 20);

      // 2. ConfigMap swap: a second tenant.
      await atomicUpdate(m.configDir, {
        "palisade.yaml": stringify(config(m.secretDir, ["acme", "globex"])),
      });
      await generationAfter(id++);
      expect(m.sidecar.generation.tenants.has("globex")).toBe(true);
      swapsDone.push("config: add tenant");
      await atLeast(load.figures.ok + 20);

      // 3. ConfigMap swap to a broken config: refused, counted, the running one serves on.
      const failures = await reloadCount(m.admin, "failure");
      await atomicUpdate(m.configDir, {
        "palisade.yaml": `${stringify(config(m.secretDir, ["acme", "globex"]))}\nbogus: true\n`,
      });
      await eventually(
        async () => (await reloadCount(m.admin, "failure")) === failures + 1,
        "failure counted",
      );
      expect(m.sidecar.generation.id).toBe(id);
      expect(
        m.logs.some(
          (l) => l.msg?.startsWith("config reload refused") && String(l["err"]).includes("bogus"),
        ),
      ).toBe(true);
      swapsDone.push("config: broken (refused)");
      await atLeast(load.figures.ok + 20);

      // 4. ConfigMap swap: fixed, with a grant.
      await atomicUpdate(m.configDir, {
        "palisade.yaml": stringify(
          config(m.secretDir, ["acme", "globex"], {
            grants: [
              {
                from: "globex",
                to: "acme",
                methods: ["GET"],
                paths: ["/tenants/acme/reports/**"],
                expires: "2099-01-01T00:00:00Z",
              },
            ],
          }),
        ),
      });
      await generationAfter(id++);
      swapsDone.push("config: fixed, grant added");
      await atLeast(load.figures.ok + 20);

      // 5. Secret swap: CA rollover bundle (old and new CA), certificate unchanged.
      const nextCa = await createCa({
        commonName: "acme CA 2",
        keyPem: await mesh.pki.key("globex", "web"),
      });
      await atomicUpdate(m.secretDir, {
        "ca.crt": `${await mesh.pki.ca("acme")}${nextCa.certPem}`,
        ...svidPem(rotated),
      });
      await generationAfter(id++);
      swapsDone.push("secret: CA bundle rollover");
      await atLeast(load.figures.ok + 20);

      // 6. Secret swap: another serving certificate, with a new key.
      const rotatedAgain = await issueSvid(
        acmeCa,
        { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "orders" },
        { keyPem: await mesh.pki.key("globex", "orders") },
      );
      await atomicUpdate(m.secretDir, {
        "ca.crt": `${await mesh.pki.ca("acme")}${nextCa.certPem}`,
        ...svidPem(rotatedAgain),
      });
      await generationAfter(id++);
      swapsDone.push("secret: rotate certificate and key");
      await atLeast(load.figures.ok + 20);

      // 7. ConfigMap swap: a setting the request path reads (anomaly threshold, grants off).
      await atomicUpdate(m.configDir, {
        "palisade.yaml": stringify(config(m.secretDir, ["acme"], { anomaly: { threshold: 50 } })),
      });
      await generationAfter(id++);
      expect(m.sidecar.generation.tenants.has("globex")).toBe(false);
      swapsDone.push("config: remove tenant, change anomaly threshold");
      await atLeast(load.figures.ok + 50);

      const figures = await load.stop();
      console.log(
        `reload under load: ${swapsDone.length} ..data swaps (${swapsDone.join("; ")}); ` +
          `requests sent ${figures.sent}, ok ${figures.ok}, failed ${figures.failed}, lost ${figures.lost}`,
      );
      expect(figures.failures).toEqual([]);
      expect(figures.failed).toBe(0);
      expect(figures.lost).toBe(0);
      expect(figures.ok).toBe(figures.sent);
      expect(await reloadCount(m.admin, "success")).toBe(6);
      expect(await reloadCount(m.admin, "failure")).toBe(failures + 1);
    } finally {
      await load.stop();
      await m.sidecar.stop();
    }
    // Seven reloads under load, each bounded on its own: the budget is for a loaded machine.
  }, 120_000);
});

describe("plain edits and rotation", () => {
  it("reloads a plain edit of the config file", async () => {
    const dir = join(root, "plain");
    await mkdir(dir, { recursive: true });
    const file = join(dir, "palisade.yaml");
    await writeFile(file, stringify(baseConfig(mesh.pki, "orders", ["acme"], app.url)));
    const sidecar = await Sidecar.start({
      configFile: file,
      logStream: { write: () => {} },
      watch: { debounceMs: 50 },
    });
    try {
      const port = sidecar.addresses().inbound.port;
      const globex = new PinnedClient(port, {
        cert: await mesh.pki.cert("globex", "web"),
        key: await mesh.pki.key("globex", "web"),
        ca: await mesh.pki.ca("globex"),
        servername: `globex.orders.${TRUST_DOMAIN}`,
      });
      await expect(globex.get("/tenants/globex/x")).rejects.toThrow();
      globex.close();
      await writeFile(file, stringify(baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url)));
      await eventually(() => sidecar.generation.tenants.has("globex"), "globex loaded");
      const again = new PinnedClient(port, {
        cert: await mesh.pki.cert("globex", "web"),
        key: await mesh.pki.key("globex", "web"),
        ca: await mesh.pki.ca("globex"),
        servername: `globex.orders.${TRUST_DOMAIN}`,
      });
      expect((await again.get("/tenants/globex/x")).status).toBe(200);
      again.close();
    } finally {
      await sidecar.stop();
    }
  });

  it("rotation: an open keep-alive connection carries on, new handshakes get the new certificate", async () => {
    const m = await mountedSidecar("rotation");
    const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;
    try {
      const old = fingerprintOf(await mesh.pki.cert("acme", "orders"));
      const kept = new PinnedClient(m.inboundPort, await acmeCredentials());
      const first = await kept.get("/tenants/acme/a");
      expect(first.status).toBe(200);
      expect(serverFingerprint(first.socket)).toBe(old);

      const id = m.sidecar.generation.id;
      const rotated = await issueSvid(
        acmeCa,
        { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "orders" },
        { keyPem: await mesh.pki.key("acme", "orders") },
      );
      await atomicUpdate(m.secretDir, { "ca.crt": await mesh.pki.ca("acme"), ...svidPem(rotated) });
      await eventually(() => m.sidecar.generation.id > id, "rotation reloaded");
      expect(m.logs.some((l) => l.msg?.startsWith("certificates rotated"))).toBe(true);

      const second = await kept.get("/tenants/acme/b");
      expect(second.status).toBe(200);
      expect(second.socket).toBe(first.socket);
      expect(serverFingerprint(second.socket)).toBe(old);
      kept.close();

      const fresh = new PinnedClient(m.inboundPort, await acmeCredentials());
      const viaSni = await fresh.get("/tenants/acme/c");
      expect(viaSni.status).toBe(200);
      expect(serverFingerprint(viaSni.socket)).toBe(fingerprintOf(rotated.certPem));
      expect(serverFingerprint(viaSni.socket)).not.toBe(old);
      fresh.close();

      // No SNI: the listener's default context was replaced too.
      const noSni = new PinnedClient(m.inboundPort, await acmeCredentials(false));
      const viaDefault = await noSni.get("/tenants/acme/d");
      expect(viaDefault.status).toBe(200);
      expect(serverFingerprint(viaDefault.socket)).toBe(fingerprintOf(rotated.certPem));
      noSni.close();
    } finally {
      await m.sidecar.stop();
    }
  });
});

describe("certificate expiry", () => {
  it("exports each tenant's expiry and warns within 7 days, on load and on the periodic check", async () => {
    const dir = join(root, "expiry");
    await mkdir(dir, { recursive: true });
    const day = 86_400_000;
    const soon = await issueSvid(
      acmeCa,
      { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "orders" },
      { keyPem: await mesh.pki.key("acme", "orders"), notAfter: new Date(Date.now() + 10 * day) },
    );
    await writeFile(join(dir, "orders.crt"), soon.certPem);
    const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
    (config["tenants"] as Record<string, Record<string, string>>)["acme"]!["cert"] = join(
      dir,
      "orders.crt",
    );
    const file = join(dir, "palisade.yaml");
    await writeFile(file, stringify(config));
    let skew = 0;
    const logs: LogLine[] = [];
    const sidecar = await Sidecar.start({
      configFile: file,
      logStream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
      now: () => Date.now() + skew,
      expiryCheckIntervalMs: 20,
    });
    try {
      const admin = `http://127.0.0.1:${sidecar.addresses().admin.port}`;
      const metrics = (await send(undefined, `${admin}/metrics`)).text;
      const expiry = new Date(new X509Certificate(soon.certPem).validTo);
      expect(metrics).toMatch(
        new RegExp(
          `palisade_cert_expiry_timestamp_seconds\\{[^}]*tenant="acme"[^}]*\\} ${Math.floor(expiry.getTime() / 1000)}`,
        ),
      );
      expect(metrics).toMatch(/palisade_cert_expiry_timestamp_seconds\{[^}]*tenant="globex"/);
      const warnings = () => logs.filter((l) => l.msg === "certificate expires soon");
      expect(warnings()).toEqual([]);

      // Four days later, without any reload: the periodic check notices.
      skew = 4 * day;
      const warning = await eventually(() => warnings()[0], "an expiry warning");
      expect(warning).toMatchObject({ level: "warn", tenant: "acme", file: "cert", daysLeft: 5 });
      expect(warnings().every((w) => w["tenant"] === "acme")).toBe(true);
    } finally {
      await sidecar.stop();
    }
  });
});
