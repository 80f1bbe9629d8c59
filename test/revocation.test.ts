/**
 * Trust withdrawn by a reload reaches connections that are already open: a revoked or
 * removed tenant, or one whose CA was replaced, is refused on its open connections (the
 * next request answers 403 tenant_revoked, idle connections are closed by the reload), its
 * cache and grants go, and TLS session resumption cannot bring the old trust back.
 */
import { writeFile } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { echo, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import {
  baseConfig,
  send,
  startSidecar,
  TRUST_DOMAIN,
  type RunningSidecar,
} from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import {
  closedWithin,
  collectUntilClose,
  openTls,
  PinnedClient,
  rawGet,
  sessionOf,
  type Credentials,
} from "./support/tls-client.js";
import { createCa, issueSvid, type CertAndKey } from "../src/tls/dev-pki.js";
import { TLS_OPTIONS } from "../src/tls/tenant-material.js";

let app: TestApp;
const held: Array<() => void> = [];
let sidecar: RunningSidecar | undefined;
const clients: PinnedClient[] = [];

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app((req, res, body) => {
    if (req.url?.includes("/slow")) held.push(() => echo(req, res, body));
    else echo(req, res, body);
  });
});

afterEach(async () => {
  for (const release of held.splice(0)) release();
  for (const client of clients.splice(0)) client.close();
  await sidecar?.stop();
  sidecar = undefined;
});

type Config = Record<string, unknown> & { tenants: Record<string, Record<string, unknown>> };

function initialConfig(): Config {
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url) as Config;
  config["inbound"] = {
    ...(config["inbound"] as object),
    cache: { enabled: true, defaultTtl: "60s" },
  };
  config["grants"] = [
    {
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      expires: "2099-01-01T00:00:00Z",
    },
  ];
  return config;
}

async function start(config: Config = initialConfig()): Promise<RunningSidecar> {
  sidecar = await startSidecar(config);
  return sidecar;
}

/** Writes the config and reloads it the way SIGHUP does; the reload must succeed. */
async function reconfigure(config: Config): Promise<void> {
  await writeFile(sidecar!.configFile, stringify(config));
  expect(await sidecar!.sidecar.reload("SIGHUP")).toBe(true);
}

async function credentials(tenant: string, leaf?: CertAndKey, ca?: string): Promise<Credentials> {
  return {
    cert: leaf?.certPem ?? (await mesh.pki.cert(tenant, "web")),
    key: leaf?.keyPem ?? (await mesh.pki.key(tenant, "web")),
    ca: ca ?? (await mesh.pki.ca(tenant)),
    servername: `${tenant}.orders.${TRUST_DOMAIN}`,
  };
}

async function pinned(tenant: string, leaf?: CertAndKey, ca?: string): Promise<PinnedClient> {
  const client = new PinnedClient(inboundPort(), await credentials(tenant, leaf, ca));
  clients.push(client);
  return client;
}

function inboundPort(): number {
  return Number(new URL(sidecar!.inbound).port);
}

function seen(path: string): boolean {
  return app.seen.some((r) => r.url === path);
}

describe("revocation", () => {
  it("refuses the next request on an open connection (403 tenant_revoked) and closes it", async () => {
    const config = initialConfig();
    await start(config);
    // Request 1 is held by the app; request 2 follows on the same connection after the
    // reload, pipelined behind it.
    const socket = await openTls(inboundPort(), await credentials("acme"));
    socket.write(rawGet("/tenants/acme/slow"));
    await eventually(() => held.length === 1, "the app to hold the first request");

    config.tenants["acme"]!["revoked"] = true;
    await reconfigure(config);
    const collected = collectUntilClose(socket);
    socket.write(rawGet("/tenants/acme/after-revocation"));
    // Decided under the new generation on arrival, answered after the held response.
    await eventually(
      () => sidecar!.logs.some((l) => l.log === "audit" && l["reason"] === "tenant_revoked"),
      "the refusal to be audited",
    );
    held.shift()!();

    const { text, closed } = await collected;
    expect(closed).toBe(true);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 403]);
    expect(text).toContain('"error":"tenant_revoked"');
    expect(text.toLowerCase()).toContain("connection: close");
    expect(seen("/tenants/acme/after-revocation")).toBe(false);
  });

  it("closes idle connections at reload, busy ones after their response, and refuses new handshakes", async () => {
    const config = initialConfig();
    await start(config);
    const acme = await pinned("acme");
    const first = await acme.get("/tenants/acme/orders");
    expect(first.status).toBe(200);
    // A second connection is busy at reload: it is closed once its response is out.
    const busy = await pinned("acme");
    const inFlight = busy.get("/tenants/acme/slow");
    await eventually(() => held.length === 1, "the app to hold a request");

    config.tenants["acme"]!["revoked"] = true;
    await reconfigure(config);
    expect(await closedWithin(first.socket, 5_000)).toBe(true);
    expect(sidecar!.logs.find((l) => l.msg === "config reloaded")).toMatchObject({
      revoked: ["acme"],
      cut: { idle: 1, busy: 1 },
    });
    held.shift()!();
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(await closedWithin(answered.socket, 5_000)).toBe(true);
    const before = app.seen.length;
    await expect((await pinned("acme")).get("/tenants/acme/orders")).rejects.toThrow();
    expect(app.seen.length).toBe(before);
  });

  it("purges the revoked tenant's cache and stops grants that name it", async () => {
    const config = initialConfig();
    await start(config);
    const acme = await pinned("acme");
    const globex = await pinned("globex");
    expect((await acme.get("/tenants/acme/cached")).status).toBe(200);
    expect((await globex.get("/tenants/acme/reports/1")).status).toBe(200);
    const cacheBytes = async () => {
      const tenants = JSON.parse((await send(undefined, `${sidecar!.admin}/tenants`)).text) as {
        id: string;
        cacheBytes: number;
      }[];
      return tenants.find((t) => t.id === "acme")?.cacheBytes;
    };
    expect(await cacheBytes()).toBeGreaterThan(0);

    config.tenants["acme"]!["revoked"] = true;
    await reconfigure(config);
    expect(await cacheBytes()).toBe(0);
    const granted = await globex.get("/tenants/acme/reports/1");
    expect(granted.status).toBe(403);
    expect(JSON.parse(granted.body)).toMatchObject({ error: "cross_tenant_denied" });

    // Reinstated: the cache starts empty, nothing of the old entries comes back.
    config.tenants["acme"]!["revoked"] = false;
    await reconfigure(config);
    const again = await (await pinned("acme")).get("/tenants/acme/cached");
    expect(again.status).toBe(200);
    expect(again.headers["x-palisade-cache"]).toBe("miss");
  });
});

describe("removal", () => {
  it("cuts a removed tenant's connections and refuses it from then on", async () => {
    const config = initialConfig();
    await start(config);
    const globex = await pinned("globex");
    const acme = await pinned("acme");
    const open = await globex.get("/tenants/globex/x");
    const acmeOpen = await acme.get("/tenants/acme/x");
    expect(open.status).toBe(200);

    delete config.tenants["globex"];
    config["grants"] = [];
    await reconfigure(config);
    expect(await closedWithin(open.socket, 5_000)).toBe(true);
    await expect((await pinned("globex")).get("/tenants/globex/x")).rejects.toThrow();
    // Other tenants' connections are untouched.
    const stillOpen = await acme.get("/tenants/acme/y");
    expect(stillOpen.status).toBe(200);
    expect(stillOpen.socket).toBe(acmeOpen.socket);
  });
});

describe("CA change", () => {
  it("cuts connections proved by the old CA; the new CA's certificates are accepted", async () => {
    const config = initialConfig();
    await start(config);
    const old = await pinned("acme");
    const opened = await old.get("/tenants/acme/x");
    expect(opened.status).toBe(200);

    // A new acme CA (keys reused: fast), and this sidecar's acme certificate from it.
    const ca = await createCa({
      commonName: "acme CA 2",
      keyPem: await mesh.pki.key("globex", "web"),
    });
    const id = { trustDomain: TRUST_DOMAIN, tenant: "acme" };
    const server = await issueSvid(
      ca,
      { ...id, service: "orders" },
      { keyPem: await mesh.pki.key("acme", "orders") },
    );
    const client = await issueSvid(
      ca,
      { ...id, service: "web" },
      { keyPem: await mesh.pki.key("acme", "web") },
    );
    const dir = join(mesh.pki.dir, "acme");
    await writeFile(join(dir, "ca2.crt"), ca.certPem);
    await writeFile(join(dir, "orders2.crt"), server.certPem);
    config.tenants["acme"] = {
      ca: join(dir, "ca2.crt"),
      cert: join(dir, "orders2.crt"),
      key: join(dir, "orders.key"),
    };
    await reconfigure(config);
    expect(await closedWithin(opened.socket, 5_000)).toBe(true);
    expect(sidecar!.logs.find((l) => l.msg === "config reloaded")).toMatchObject({
      caChanged: ["acme"],
    });

    const bothCas = `${await mesh.pki.ca("acme")}${ca.certPem}`;
    await expect(
      (await pinned("acme", undefined, bothCas)).get("/tenants/acme/x"),
    ).rejects.toThrow();
    const renewed = await pinned("acme", client, ca.certPem);
    expect((await renewed.get("/tenants/acme/x")).status).toBe(200);
  });
});

describe("TLS session resumption", () => {
  /** A session saved after a full handshake and one answered request. */
  async function savedSession(creds: Credentials, port: number, maxVersion: "TLSv1.2" | "TLSv1.3") {
    const socket = await openTls(port, creds, { maxVersion });
    const session = sessionOf(socket);
    const done = collectUntilClose(socket);
    socket.write(rawGet("/tenants/acme/x", "palisade", true));
    const { text } = await done;
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    return session()!;
  }

  async function resume(
    creds: Credentials,
    port: number,
    session: Buffer,
    maxVersion: "TLSv1.2" | "TLSv1.3",
  ) {
    try {
      const socket = await openTls(port, creds, { session, maxVersion });
      const reused = socket.isSessionReused();
      const done = collectUntilClose(socket, 5_000);
      socket.write(rawGet("/tenants/acme/resumed", "palisade", true));
      return { reused, text: (await done).text };
    } catch (err) {
      return { reused: false, text: "", error: (err as Error).message };
    }
  }

  it("the probe sees resumption where a server allows it (control)", async () => {
    const server = createServer(
      { cert: await mesh.pki.cert("acme", "orders"), key: await mesh.pki.key("acme", "orders") },
      (_req, res) => res.end("ok"),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const creds = await credentials("acme");
      for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
        const session = await savedSession(creds, port, version);
        expect((await resume(creds, port, session, version)).reused).toBe(true);
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it.each(["TLSv1.2", "TLSv1.3"] as const)(
    "%s: tickets are off, and a saved session does not get a revoked tenant back in",
    async (version) => {
      expect(TLS_OPTIONS.secureOptions).toBeTruthy();
      const config = initialConfig();
      await start(config);
      const creds = await credentials("acme");
      const session = await savedSession(creds, inboundPort(), version);
      // While still trusted: a full handshake, never a resumed one.
      const trusted = await resume(creds, inboundPort(), session, version);
      expect(trusted.reused).toBe(false);
      expect(trusted.text).toMatch(/^HTTP\/1\.1 200/);

      config.tenants["acme"]!["revoked"] = true;
      await reconfigure(config);
      const before = app.seen.length;
      const refused = await resume(creds, inboundPort(), session, version);
      expect(refused.reused).toBe(false);
      expect(refused.text).not.toMatch(/^HTTP\/1\.1 200/);
      expect(app.seen.length).toBe(before);
    },
  );
});
