/**
 * Chains through intermediates over real TLS handshakes, with certificates made by the
 * openssl CLI: a client (or upstream) sending leaf + intermediates must verify to its
 * tenant's own CA with every intermediate a constrained, valid CA; X.509 name constraints
 * bind the SPIFFE trust domain; and a refused handshake raises anomalies only about a
 * tenant whose CA really vouched for the certificate, never about the tenant a SAN claims.
 */
import { X509Certificate } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpsServer, type Server } from "node:https";
import { connect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Agent } from "undici";
import { stringify } from "yaml";
import { checkConfig } from "../src/check.js";
import { type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { hugeExponentKey, rsaKey, sameNameChain } from "./support/forged-chain.js";
import {
  baseConfig,
  send,
  startSidecar,
  TRUST_DOMAIN,
  type RunningSidecar,
} from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import {
  caExtensions,
  opensslCert,
  opensslCrossSign,
  svidExtensions,
  type OpensslCert,
} from "./support/openssl.js";

const svid = (tenant: string, service = "web", trustDomain = TRUST_DOMAIN) =>
  `spiffe://${trustDomain}/tenant/${tenant}/sa/${service}`;
/** Anomaly threshold of the attribution sidecar; a burst is one more. */
const THRESHOLD = 2;
const BURST = THRESHOLD + 1;

let dir: string;
let app: TestApp;
let orders: RunningSidecar;
const agents: Agent[] = [];
const stops: (() => Promise<void>)[] = [];

/** The dev PKI's CA of `tenant`, usable as an openssl issuer. */
function rootOf(tenant: string): Pick<OpensslCert, "crt" | "key"> {
  return { crt: join(mesh.pki.dir, tenant, "ca.crt"), key: join(mesh.pki.dir, tenant, "ca.key") };
}

function ca(
  name: string,
  issuer: Pick<OpensslCert, "crt" | "key"> | undefined,
  extra: string[] = [],
  opts: { pathLen?: number; days?: number } = {},
): OpensslCert {
  return opensslCert(dir, name, {
    subject: `/CN=${name}`,
    ...(issuer ? { issuer } : {}),
    extensions: caExtensions(extra, opts.pathLen),
    ...(opts.days === undefined ? {} : { days: opts.days }),
  });
}

function leaf(
  name: string,
  issuer: Pick<OpensslCert, "crt" | "key">,
  uri = svid("acme"),
  extra: string[] = [],
) {
  return opensslCert(dir, name, {
    subject: `/CN=${name}`,
    issuer,
    extensions: svidExtensions(uri, extra),
  });
}

/** A client presenting `cert` followed by `intermediates`, trusting the server's tenant CA. */
async function chainClient(
  cert: OpensslCert,
  intermediates: OpensslCert[],
  servername: string | undefined = "acme.orders.mesh.local",
): Promise<Agent> {
  const agent = new Agent({
    connect: {
      cert: [cert, ...intermediates].map((c) => c.certPem).join(""),
      key: cert.keyPem,
      ca: [await mesh.pki.ca("acme"), await mesh.pki.ca("globex")],
      ...(servername === undefined ? {} : { servername }),
      checkServerIdentity: () => undefined,
    },
  });
  agents.push(agent);
  return agent;
}

/** The value of the first sample of `name` carrying every label in `labels` (0: none). */
async function metric(
  sidecar: RunningSidecar,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = (await send(undefined, `${sidecar.admin}/metrics`)).text;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const handshakeFailures = (sidecar: RunningSidecar, reason: string) =>
  metric(sidecar, "palisade_tls_handshake_failures_total", { reason });
const handshakeAlerts = (sidecar: RunningSidecar, tenant: string) =>
  metric(sidecar, "palisade_anomaly_alerts_total", { tenant, kind: "handshake_failures" });

async function expectAccepted(agent: Agent, tenant: string, sidecar = orders): Promise<void> {
  const answer = await send(agent, `${sidecar.inbound}/tenants/${tenant}/orders`);
  expect(answer.status).toBe(200);
  expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe(tenant);
}

/** Refused at the connection, the app sees nothing, and `reason` is counted once. */
async function expectRefused(agent: Agent, reason: string, sidecar = orders): Promise<void> {
  const before = app.seen.length;
  const counted = await handshakeFailures(sidecar, reason);
  await expect(send(agent, `${sidecar.inbound}/tenants/acme/orders`)).rejects.toThrow();
  expect(app.seen.length).toBe(before);
  expect(await handshakeFailures(sidecar, reason)).toBe(counted + 1);
}

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  dir = join(mesh.pki.dir, "chains");
  await mkdir(dir, { recursive: true });
  // initech's orders certificate is issued by an intermediate: its cert file holds the chain.
  const initech = join(mesh.pki.dir, "initech");
  await mkdir(initech, { recursive: true });
  const initechRoot = opensslCert(initech, "ca", {
    subject: "/CN=initech root",
    extensions: caExtensions(),
  });
  const initechInt = opensslCert(initech, "int", {
    subject: "/CN=initech issuing",
    issuer: initechRoot,
    extensions: caExtensions(["nameConstraints=critical,permitted;URI:mesh.local"], 0),
    // Expires before the leaves: the tenant's chain stops working when this one does.
    days: 20,
  });
  for (const service of ["orders", "web", "billing"]) {
    const cert = opensslCert(initech, `${service}.leaf`, {
      subject: `/CN=${service}`,
      issuer: initechInt,
      extensions: svidExtensions(svid("initech", service)),
    });
    await writeFile(join(initech, `${service}.crt`), cert.certPem + initechInt.certPem);
    await copyFile(cert.key, join(initech, `${service}.key`));
  }
  app = await mesh.app();
  orders = await mesh.sidecar(
    baseConfig(mesh.pki, "orders", ["acme", "globex", "initech"], app.url),
  );
  mesh.defer(async () => {
    await Promise.all(agents.map((a) => a.close()));
    for (const stop of stops) await stop();
  });
});

describe("chains through intermediates", () => {
  it("intermediate-issued-client-refused: leaf + intermediate verify to the tenant's CA", async () => {
    const int = ca("acme-issuing", rootOf("acme"));
    const cert = leaf("acme-web", int);
    await expectAccepted(await chainClient(cert, [int]), "acme");
    // Without SNI the tenant is found from the chain, through the intermediate too.
    await expectAccepted(await chainClient(cert, [int], undefined), "acme");
    // The intermediate is required: the leaf alone does not reach the CA.
    await expectRefused(await chainClient(cert, []), "unknown_ca");
  });

  it("tenant-cert-file-chain-not-served: a configured leaf + intermediate is served and accepted", async () => {
    const initech = join(mesh.pki.dir, "initech");
    // The client trusts initech's root only: the handshake needs the served intermediate.
    const agent = new Agent({
      connect: {
        cert: await readFile(join(initech, "web.crt"), "utf8"),
        key: await readFile(join(initech, "web.key"), "utf8"),
        ca: await readFile(join(initech, "ca.crt"), "utf8"),
        servername: "initech.orders.mesh.local",
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      },
    });
    agents.push(agent);
    await expectAccepted(agent, "initech");
  });

  it("chain-intermediate-expiry-hidden-by-leaf: the expiry gauge follows the served intermediate", async () => {
    const int = new X509Certificate(
      await readFile(join(mesh.pki.dir, "initech", "int.crt"), "utf8"),
    );
    const leafCert = new X509Certificate(
      await readFile(join(mesh.pki.dir, "initech", "orders.crt")),
    );
    expect(new Date(int.validTo) < new Date(leafCert.validTo)).toBe(true);
    const gauge = await metric(orders, "palisade_cert_expiry_timestamp_seconds", {
      tenant: "initech",
    });
    expect(gauge).toBe(Math.floor(new Date(int.validTo).getTime() / 1000));
  });

  it("check-disagrees-with-listener-on-chains: `palisade check` reads chains as the listener does", async () => {
    const served = await checkConfig(orders.configFile, new Date());
    expect(served.findings.filter((f) => f.level === "error")).toEqual([]);
    // A served chain through a sub-CA limited to another trust domain: refused by both.
    const int = ca("acme-own-nc", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:other.local",
    ]);
    const own = leaf("acme-orders-nc", int, svid("acme", "orders"));
    await writeFile(join(dir, "acme-orders-nc.chain.crt"), own.certPem + int.certPem);
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    (config["tenants"] as Record<string, Record<string, string>>)["acme"] = {
      ca: rootOf("acme").crt,
      cert: join(dir, "acme-orders-nc.chain.crt"),
      key: own.key,
    };
    const file = join(dir, "constrained.yaml");
    await writeFile(file, stringify(config));
    const report = await checkConfig(file, new Date());
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        level: "error",
        path: "tenants.acme.cert",
        message: expect.stringContaining("name_constraint_violation"),
      }),
    );
  });

  it("name-constraint-violating-leaf-accepted: a sub-CA limited to another trust domain", async () => {
    const int = ca("acme-other-td", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:other.local",
    ]);
    await expectRefused(
      await chainClient(leaf("acme-web-nc", int), [int]),
      "name_constraint_violation",
    );
  });

  it("name-constraint-subdomain-form-covers-trust-domain: `.mesh.local` permits subdomains only", async () => {
    // RFC 5280 (and OpenSSL): a leading period means "any host below", not the host itself.
    const int = ca("acme-dot-td", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:.mesh.local",
    ]);
    await expectRefused(
      await chainClient(leaf("acme-web-dot", int), [int]),
      "name_constraint_violation",
    );
  });

  it("name-constrained-sub-ca-within-bounds: permitted `mesh.local` is accepted", async () => {
    const int = ca("acme-in-td", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:mesh.local",
    ]);
    await expectAccepted(await chainClient(leaf("acme-web-in", int), [int]), "acme");
  });

  it("excluded-subtree-overridden-by-permitted: excluded beats permitted", async () => {
    const int = ca("acme-excluded", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:mesh.local,excluded;URI:mesh.local",
    ]);
    await expectRefused(
      await chainClient(leaf("acme-web-ex", int), [int]),
      "name_constraint_violation",
    );
  });

  it("name-constraint-on-upper-ca-ignored: constraints bind every CA in the path", async () => {
    const upper = ca("acme-upper-nc", rootOf("acme"), [
      "nameConstraints=critical,excluded;URI:mesh.local",
    ]);
    const lower = ca("acme-lower-free", upper);
    await expectRefused(
      await chainClient(leaf("acme-web-upper", lower), [lower, upper]),
      "name_constraint_violation",
    );
  });

  it("non-ca-intermediate-issues-client: a leaf certificate used as an issuer", async () => {
    const notCa = opensslCert(dir, "acme-not-ca", {
      subject: "/CN=acme-not-ca",
      issuer: rootOf("acme"),
      extensions: ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,keyCertSign"],
    });
    await expectRefused(await chainClient(leaf("acme-web-nca", notCa), [notCa]), "unknown_ca");
  });

  it("ca-without-keycertsign-issues-client: cA=TRUE but not allowed to sign certificates", async () => {
    const noSign = opensslCert(dir, "acme-no-sign", {
      subject: "/CN=acme-no-sign",
      issuer: rootOf("acme"),
      extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature"],
    });
    await expectRefused(await chainClient(leaf("acme-web-ns", noSign), [noSign]), "unknown_ca");
  });

  it("expired-intermediate-accepted: every certificate of the path must be valid", async () => {
    const expired = ca("acme-expired", rootOf("acme"), [], { days: -1 });
    await expectRefused(await chainClient(leaf("acme-web-exp", expired), [expired]), "expired");
  });

  it("pathlen-zero-intermediate-delegates: pathLen 0 forbids a further intermediate", async () => {
    const top = ca("acme-pathlen0", rootOf("acme"), [], { pathLen: 0 });
    const below = ca("acme-below-pathlen0", top);
    await expectRefused(await chainClient(leaf("acme-web-pl", below), [below, top]), "unknown_ca");
  });

  it("unknown-critical-extension-ignored: on an intermediate or on the leaf", async () => {
    const odd = ca("acme-odd", rootOf("acme"), ["1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:x"]);
    await expectRefused(
      await chainClient(leaf("acme-web-odd", odd), [odd]),
      "unhandled_critical_extension",
    );
    const int = ca("acme-plain", rootOf("acme"));
    const oddLeaf = leaf("acme-web-oddleaf", int, svid("acme"), [
      "1.3.6.1.4.1.55555.2=critical,ASN1:UTF8String:x",
    ]);
    await expectRefused(await chainClient(oddLeaf, [int]), "unhandled_critical_extension");
  });

  it("other-tenant-intermediate-claims-tenant: globex's sub-CA issues an acme SVID", async () => {
    const int = ca("globex-issuing", rootOf("globex"));
    await expectRefused(await chainClient(leaf("globex-as-acme", int), [int]), "tenant_mismatch");
  });

  it("cross-signed-detour-to-tenant-ca: acme's CA cross-signs globex's, globex mints acme", async () => {
    // globex's CA name and key, certified by acme's CA: a path acme → globex's key → leaf.
    const cross = opensslCrossSign(dir, "globex-cross", rootOf("globex"), rootOf("acme"));
    expect(new X509Certificate(cross.certPem).subject).toBe(
      new X509Certificate(await mesh.pki.ca("globex")).subject,
    );
    const minted = leaf("globex-minted-acme", cross);
    await expectRefused(await chainClient(minted, [cross]), "tenant_mismatch");
  });
});

describe("attacks on the verifier", () => {
  /** A client presenting `certPem` (leaf, then intermediates) with `keyPem`, SNI acme. */
  function forgedClient(certPem: string, keyPem: string): Agent {
    const agent = new Agent({
      connect: {
        cert: certPem,
        key: keyPem,
        rejectUnauthorized: false,
        servername: "acme.orders.mesh.local",
      },
    });
    agents.push(agent);
    return agent;
  }

  it("huge-exponent-chain-freezes-event-loop: refused for its keys, before any signature check", async () => {
    // The review's chain: a leaf claiming acme under eight intermediates sharing one name
    // and one RSA key whose public exponent is as long as its modulus.
    const forged = sameNameChain(svid("acme"), hugeExponentKey(2048));
    const agent = forgedClient(
      [forged.leafPem, ...forged.intermediatePems].join(""),
      forged.leafKey.privateKeyPem,
    );
    await expectRefused(agent, "bad_key");
    const line = orders.logs.find(
      (l) => l.msg === "peer refused at handshake" && l["reason"] === "bad_key",
    );
    expect(line).toMatchObject({ claimedTenant: "acme" });
    expect(line?.["tenant"]).toBeUndefined();
  });

  it("huge-exponent-chain-freezes-event-loop: the same intermediate sent twice", async () => {
    const forged = sameNameChain(svid("acme"), rsaKey(), 2);
    const chain = [forged.leafPem, ...forged.intermediatePems, ...forged.intermediatePems];
    await expectRefused(forgedClient(chain.join(""), forged.leafKey.privateKeyPem), "bad_chain");
  });

  it("renamed-cross-cert-mints-other-tenant: acme's CA certifies globex's CA key as `bridge`", async () => {
    const bridge = opensslCert(dir, "bridge", {
      subject: "/CN=bridge",
      issuer: rootOf("acme"),
      key: rootOf("globex").key,
      extensions: caExtensions(),
    });
    const minted = leaf("globex-via-bridge", bridge);
    await expectRefused(await chainClient(minted, [bridge]), "tenant_mismatch");
  });

  it("codesigning-leaf-accepted-as-client: a leaf whose EKU lacks clientAuth", async () => {
    const codeSigning = opensslCert(dir, "acme-codesigning", {
      subject: "/CN=web",
      issuer: rootOf("acme"),
      extensions: [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=critical,codeSigning",
        `subjectAltName=URI:${svid("acme")}`,
      ],
    });
    await expectRefused(await chainClient(codeSigning, []), "bad_key_usage");
  });

  it("handshake-timeout-counted-twice: a silent socket cut at its deadline counts once", async () => {
    const quick = await startSidecar({
      ...baseConfig(mesh.pki, "orders", ["acme"], app.url),
      inbound: {
        ...(baseConfig(mesh.pki, "orders", ["acme"], app.url)["inbound"] as object),
        timeouts: { headers: "300ms" },
      },
    });
    stops.push(() => quick.stop());
    const port = Number(new URL(quick.inbound).port);
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("close", resolve));
    await eventually(
      async () => (await handshakeFailures(quick, "handshake_timeout")) === 1,
      "the cut counted as handshake_timeout",
    );
    // The cut was counted before the socket closed; nothing else is counted for it.
    expect(await handshakeFailures(quick, "handshake_error")).toBe(0);
  });
});

describe("attribution of refused handshakes", () => {
  let watch: RunningSidecar;

  beforeAll(async () => {
    watch = await startSidecar({
      ...baseConfig(mesh.pki, "orders", ["acme", "globex", "initech"], app.url),
      anomaly: { window: "60s", threshold: THRESHOLD },
    });
    stops.push(() => watch.stop());
  });

  async function burst(agent: Agent): Promise<void> {
    for (let i = 0; i < BURST; i++) {
      await expect(send(agent, `${watch.inbound}/tenants/acme/orders`)).rejects.toThrow();
    }
  }

  it("forged-san-raises-alert-about-victim: a rogue CA's leaf claiming acme", async () => {
    const rogue = ca("rogue-root", undefined);
    const forged = leaf("rogue-as-acme", rogue);
    const counted = await handshakeFailures(watch, "unknown_ca");
    await burst(await chainClient(forged, [], "acme.orders.mesh.local"));
    await burst(await chainClient(forged, [], undefined));
    expect(await handshakeFailures(watch, "unknown_ca")).toBe(counted + 2 * BURST);
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
    // Logged, with the claim marked as unverified and no tenant attributed.
    const line = watch.logs.find(
      (l) => l.msg === "peer refused at handshake" && l["reason"] === "unknown_ca",
    );
    expect(line).toMatchObject({ claimedTenant: "acme" });
    expect(line?.["tenant"]).toBeUndefined();
  });

  it("forged-san-with-other-sni-raises-alert-about-victim: rogue leaf claims globex on acme's name", async () => {
    const rogue = ca("rogue-root-2", undefined);
    const forged = leaf("rogue-as-globex", rogue, svid("globex"));
    await burst(await chainClient(forged, []));
    expect(await handshakeAlerts(watch, "globex")).toBe(0);
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
  });

  it("forged-chain-through-rogue-intermediate-raises-alert-about-victim", async () => {
    const rogue = ca("rogue-root-3", undefined);
    const int = ca("rogue-int", rogue);
    await burst(await chainClient(leaf("rogue-int-as-acme", int), [int, rogue]));
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
  });

  it("unverified-chain-to-victim-ca-raises-alert: a name-constraint violation is nobody's", async () => {
    const int = ca("acme-nc-watch", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:other.local",
    ]);
    await burst(await chainClient(leaf("acme-nc-watch-leaf", int), [int]));
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
  });

  it("other-tenant-intermediate-blames-victim: the tenant whose CA signed is the one alerted", async () => {
    const int = ca("globex-issuing-watch", rootOf("globex"));
    await burst(await chainClient(leaf("globex-as-acme-watch", int), [int]));
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
    expect(await handshakeAlerts(watch, "globex")).toBe(1);
  });

  it("verified-peer-on-wrong-name-is-attributed: initech's chained SVID on acme's name", async () => {
    const initech = join(mesh.pki.dir, "initech");
    const agent = new Agent({
      connect: {
        cert: await readFile(join(initech, "web.crt"), "utf8"),
        key: await readFile(join(initech, "web.key"), "utf8"),
        ca: await mesh.pki.ca("acme"),
        servername: "acme.orders.mesh.local",
        checkServerIdentity: () => undefined,
      },
    });
    agents.push(agent);
    await burst(agent);
    expect(await handshakeAlerts(watch, "initech")).toBe(1);
    expect(await handshakeAlerts(watch, "acme")).toBe(0);
  });
});

describe("outbound: the upstream's chain", () => {
  let web: RunningSidecar;
  let billing: RunningSidecar;
  let rogueUpstream: Server;

  beforeAll(async () => {
    billing = await startSidecar(baseConfig(mesh.pki, "billing", ["initech"], app.url));
    stops.push(() => billing.stop());
    // An upstream whose SVID comes from an acme sub-CA limited to another trust domain.
    const int = ca("acme-upstream-nc", rootOf("acme"), [
      "nameConstraints=critical,permitted;URI:other.local",
    ]);
    const cert = leaf("acme-billing-nc", int, svid("acme", "billing"));
    rogueUpstream = createHttpsServer(
      { cert: cert.certPem + int.certPem, key: cert.keyPem },
      (_req, res) => res.end("leaked"),
    );
    await new Promise<void>((resolve) => rogueUpstream.listen(0, "127.0.0.1", resolve));
    const port = (rogueUpstream.address() as AddressInfo).port;
    stops.push(() => new Promise<void>((resolve) => rogueUpstream.close(() => resolve())));
    const config = baseConfig(mesh.pki, "web", ["acme", "initech"], app.url);
    config["outbound"] = {
      listen: "127.0.0.1:0",
      allowUnsignedTenant: true,
      upstreams: {
        billing: { url: billing.inbound, target: { path: "/tenants/{tenant}/**" } },
        rogue: {
          url: `https://127.0.0.1:${port}`,
          sni: "{tenant}.billing.mesh.local",
          service: "billing",
        },
      },
    };
    web = await startSidecar(config);
    stops.push(() => web.stop());
  });

  it("upstream-chain-svid-refused: an upstream serving leaf + intermediate is verified", async () => {
    const answer = await send(undefined, `${web.outbound}/tenants/initech/orders`, {
      headers: { host: "billing", "x-palisade-tenant": "initech" },
    });
    expect(answer.status).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("initech");
  });

  it("upstream-name-constraint-violation-accepted: the same constraints bind upstreams", async () => {
    const answer = await send(undefined, `${web.outbound}/tenants/acme/orders`, {
      headers: { host: "rogue", "x-palisade-tenant": "acme" },
    });
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "upstream_unavailable" });
  });
});
