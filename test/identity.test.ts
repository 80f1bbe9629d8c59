/**
 * Inbound identity over real TLS handshakes: the caller's tenant is the SAN's tenant, and
 * only if the chain verifies to that tenant's own CA. Every bad certificate is refused
 * before any request reaches the app, and counted by reason.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Agent } from "undici";
import { type TestApp } from "./support/app.js";
import { baseConfig, send, TRUST_DOMAIN, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { opensslEcTenant } from "./support/openssl.js";
import { createCa, issueLeaf, issueSvid, type CertAndKey } from "../src/tls/dev-pki.js";

let app: TestApp;
let orders: RunningSidecar;
const agents: Agent[] = [];

async function caOf(tenant: string): Promise<CertAndKey> {
  return {
    certPem: await readFile(join(mesh.pki.dir, tenant, "ca.crt"), "utf8"),
    keyPem: await readFile(join(mesh.pki.dir, tenant, "ca.key"), "utf8"),
  };
}

function svid(tenant: string, service = "web", trustDomain = TRUST_DOMAIN): string {
  return `spiffe://${trustDomain}/tenant/${tenant}/sa/${service}`;
}

function client(leaf: Partial<CertAndKey>, caPem: string, servername?: string): Agent {
  const agent = new Agent({
    connect: {
      ...(leaf.certPem ? { cert: leaf.certPem, key: leaf.keyPem } : {}),
      ca: caPem,
      ...(servername === undefined ? {} : { servername }),
      checkServerIdentity: () => undefined,
    },
  });
  agents.push(agent);
  return agent;
}

async function handshakeFailures(reason: string): Promise<number> {
  const metrics = await send(undefined, `${orders.admin}/metrics`);
  const match = new RegExp(
    `palisade_tls_handshake_failures_total\\{reason="${reason}"[^}]*\\} (\\d+)`,
  ).exec(metrics.text);
  return Number(match?.[1] ?? 0);
}

/** The request fails at the connection level, the app sees nothing, and `reason` is counted. */
async function expectRefusedConnection(agent: Agent, reason: string) {
  const before = app.seen.length;
  const counted = await handshakeFailures(reason);
  await expect(send(agent, `${orders.inbound}/tenants/acme/orders`)).rejects.toThrow();
  expect(app.seen.length).toBe(before);
  expect(await handshakeFailures(reason)).toBe(counted + 1);
}

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  const initech = join(mesh.pki.dir, "initech");
  await mkdir(initech, { recursive: true });
  opensslEcTenant(initech, TRUST_DOMAIN, "initech", ["orders", "web"]);
  app = await mesh.app();
  orders = await mesh.sidecar(
    baseConfig(mesh.pki, "orders", ["acme", "globex", "initech"], app.url),
  );
  mesh.defer(() => Promise.all(agents.map((a) => a.close())));
});

describe("identity", () => {
  it("accepts a valid SVID and names the caller by it", async () => {
    const agent = client(
      { certPem: await mesh.pki.cert("acme", "web"), keyPem: await mesh.pki.key("acme", "web") },
      await mesh.pki.ca("acme"),
      "acme.orders.mesh.local",
    );
    expect((await send(agent, `${orders.inbound}/tenants/acme/orders`)).status).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("acme");
  });

  it("accepts EC P-256 certificates made by openssl", async () => {
    const dir = join(mesh.pki.dir, "initech");
    const agent = client(
      {
        certPem: await readFile(join(dir, "web.crt"), "utf8"),
        keyPem: await readFile(join(dir, "web.key"), "utf8"),
      },
      await readFile(join(dir, "ca.crt"), "utf8"),
      "initech.orders.mesh.local",
    );
    expect((await send(agent, `${orders.inbound}/tenants/initech/orders`)).status).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("initech");
  });

  it("finds the tenant from the client chain when there is no SNI", async () => {
    const agent = client(
      {
        certPem: await mesh.pki.cert("globex", "web"),
        keyPem: await mesh.pki.key("globex", "web"),
      },
      await mesh.pki.ca("acme"),
    );
    // No servername: Node sends no SNI for an IP address.
    const answer = await send(agent, `${orders.inbound}/tenants/globex/orders`);
    expect(answer.status).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("globex");
  });

  it("refuses an expired certificate", async () => {
    const leaf = await issueSvid(
      await caOf("acme"),
      { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "web" },
      {
        notBefore: new Date(Date.now() - 10 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      },
    );
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "expired",
    );
  });

  it("refuses a not-yet-valid certificate", async () => {
    const leaf = await issueSvid(
      await caOf("acme"),
      { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "web" },
      {
        notBefore: new Date(Date.now() + 86_400_000),
        notAfter: new Date(Date.now() + 10 * 86_400_000),
      },
    );
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "not_yet_valid",
    );
  });

  it("refuses a certificate from a CA no tenant trusts", async () => {
    const rogue = await createCa({ commonName: "rogue" });
    const leaf = await issueLeaf(rogue, { uris: [svid("acme")] });
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "unknown_ca",
    );
  });

  it("refuses globex's CA vouching for an acme SAN (never a union of CAs)", async () => {
    const leaf = await issueLeaf(await caOf("globex"), { uris: [svid("acme")] });
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "tenant_mismatch",
    );
  });

  it("refuses a SAN in another trust domain", async () => {
    const leaf = await issueLeaf(await caOf("acme"), { uris: [svid("acme", "web", "evil.local")] });
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "wrong_trust_domain",
    );
  });

  it("refuses a certificate with two URI SANs", async () => {
    const leaf = await issueLeaf(await caOf("acme"), { uris: [svid("acme"), svid("globex")] });
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "bad_san",
    );
  });

  it("refuses a CA certificate used as a leaf", async () => {
    const leaf = await issueLeaf(await caOf("acme"), { uris: [svid("acme")], ca: true });
    await expectRefusedConnection(
      client(leaf, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "ca_leaf",
    );
  });

  it("refuses globex's certificate on acme's server name", async () => {
    const agent = client(
      {
        certPem: await mesh.pki.cert("globex", "web"),
        keyPem: await mesh.pki.key("globex", "web"),
      },
      await mesh.pki.ca("acme"),
      "acme.orders.mesh.local",
    );
    await expectRefusedConnection(agent, "tenant_mismatch");
  });

  it("refuses a client without a certificate", async () => {
    await expectRefusedConnection(
      client({}, await mesh.pki.ca("acme"), "acme.orders.mesh.local"),
      "no_client_cert",
    );
  });

  it("refuses an unknown server name", async () => {
    const agent = client(
      { certPem: await mesh.pki.cert("acme", "web"), keyPem: await mesh.pki.key("acme", "web") },
      await mesh.pki.ca("acme"),
      "nobody.orders.mesh.local",
    );
    const generic = await handshakeFailures("handshake_error");
    await expectRefusedConnection(agent, "no_sni_match");
    // Counted once, under its own reason.
    expect(await handshakeFailures("handshake_error")).toBe(generic);
  });
});
