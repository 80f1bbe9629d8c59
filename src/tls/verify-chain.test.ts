import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi,
  type MockInstance,
} from "vitest";
import {
  forgeCert,
  hugeExponentKey,
  rsaKey,
  sameNameChain,
  type PemKeyPair,
} from "../../test/support/forged-chain.js";
import {
  caExtensions,
  opensslCert,
  svidExtensions,
  type OpensslCert,
} from "../../test/support/openssl.js";
import { keyMatchesCert } from "./certs.js";
import { createCa, issueLeaf, newRsaKey, type CertAndKey } from "./dev-pki.js";
import {
  HANDSHAKE_FAILURE_REASONS,
  SIGNATURE_CHECK_SLACK,
  checkSvid,
  resolvePeerIdentity,
  verifyTenantChain,
  type TenantTrust,
} from "./verify-chain.js";

const TD = "mesh.local";
const DAY = 86_400_000;
const now = new Date();
const x509 = (pair: CertAndKey) => new X509Certificate(pair.certPem);
const svidUri = (tenant: string, service = "web", td = TD) =>
  `spiffe://${td}/tenant/${tenant}/sa/${service}`;

/** One key for every leaf and one for every CA: signing is cheap, RSA keygen is not. */
let leafKey: string;
let acme: CertAndKey;
let globex: CertAndKey;
let acmeRoot: X509Certificate;
let globexRoot: X509Certificate;
let tenants: Map<string, TenantTrust>;

const leaf = (ca: CertAndKey, opts: Parameters<typeof issueLeaf>[1] = {}) =>
  issueLeaf(ca, { keyPem: leafKey, uris: [svidUri("acme")], ...opts }).then(x509);
const verifyAcme = (cert: X509Certificate, intermediates: X509Certificate[] = []) =>
  verifyTenantChain({ leaf: cert, intermediates, roots: [acmeRoot], now });
const resolve = (
  chain: X509Certificate[],
  extra: { expectedTenant?: string; trust?: Map<string, TenantTrust>; now?: Date } = {},
) =>
  resolvePeerIdentity({
    chain,
    trustDomain: TD,
    tenants: extra.trust ?? tenants,
    ...(extra.expectedTenant === undefined ? {} : { expectedTenant: extra.expectedTenant }),
    now: extra.now ?? now,
  });

beforeAll(async () => {
  const [caKey, otherCaKey] = await Promise.all([
    newRsaKey(),
    newRsaKey(),
    newRsaKey().then((k) => (leafKey = k)),
  ]);
  acme = await createCa({ commonName: "acme CA", keyPem: caKey });
  globex = await createCa({ commonName: "globex CA", keyPem: otherCaKey });
  acmeRoot = x509(acme);
  globexRoot = x509(globex);
  tenants = new Map([
    ["acme", { roots: [acmeRoot], revoked: false }],
    ["globex", { roots: [globexRoot], revoked: false }],
  ]);
});

describe("verifyTenantChain", () => {
  it("accepts a leaf issued by the tenant's CA", async () => {
    expect(verifyAcme(await leaf(acme))).toEqual({ ok: true });
  });

  it("accepts a chain through intermediates sent out of order, with extras", async () => {
    const int1 = await createCa({ commonName: "acme int 1", issuer: acme, keyPem: leafKey });
    const int2 = await createCa({ commonName: "acme int 2", issuer: int1, keyPem: leafKey });
    const cert = await leaf(int2);
    expect(verifyAcme(cert, [x509(int1), acmeRoot, globexRoot, x509(int2)])).toEqual({ ok: true });
    expect(verifyAcme(cert, [x509(int2)])).toEqual({ ok: false, reason: "unknown_ca" });
  });

  it("accepts at most five certificates in a path", async () => {
    const cas: CertAndKey[] = [];
    for (let i = 0, issuer = acme; i < 4; i++) {
      issuer = await createCa({ commonName: `acme int ${i}`, issuer, keyPem: leafKey });
      cas.push(issuer);
    }
    const sent = cas.map(x509);
    expect(verifyAcme(await leaf(cas[2] as CertAndKey), sent)).toEqual({ ok: true });
    expect(verifyAcme(await leaf(cas[3] as CertAndKey), sent)).toEqual({
      ok: false,
      reason: "unknown_ca",
    });
  });

  it("refuses a peer that floods intermediates", async () => {
    const int = x509(await createCa({ commonName: "acme flood", issuer: acme, keyPem: leafKey }));
    const cert = await leaf({ certPem: int.toString(), keyPem: leafKey });
    expect(verifyAcme(cert, [int])).toEqual({ ok: true });
    // The same intermediate twice, or more than eight: refused before any signature check.
    expect(verifyAcme(cert, [int, int])).toEqual({ ok: false, reason: "bad_chain" });
    const distinct = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        createCa({ commonName: `acme flood ${i}`, issuer: acme, keyPem: leafKey }).then(x509),
      ),
    );
    expect(verifyAcme(cert, [int, ...distinct.slice(1)])).toEqual({ ok: true });
    expect(verifyAcme(cert, [int, ...distinct])).toEqual({ ok: false, reason: "bad_chain" });
  });

  it("honours pathLenConstraint", async () => {
    const int0 = await createCa({
      commonName: "acme int pl0",
      issuer: acme,
      keyPem: leafKey,
      pathLen: 0,
    });
    const sub = await createCa({ commonName: "acme sub", issuer: int0, keyPem: leafKey });
    expect(verifyAcme(await leaf(int0), [x509(int0)])).toEqual({ ok: true });
    expect(verifyAcme(await leaf(sub), [x509(sub), x509(int0)])).toEqual({
      ok: false,
      reason: "unknown_ca",
    });
  });

  it("refuses a leaf used as an issuer (cA=false intermediate)", async () => {
    const notCa = await issueLeaf(acme, { keyPem: leafKey, commonName: "pretend CA" });
    const cert = await leaf(notCa, { commonName: "victim" });
    expect(verifyAcme(cert, [x509(notCa)])).toEqual({ ok: false, reason: "unknown_ca" });
  });

  it("refuses a leaf from another tenant's CA (unknown_ca)", async () => {
    expect(verifyAcme(await leaf(globex))).toEqual({ ok: false, reason: "unknown_ca" });
  });

  it("refuses a forged leaf naming the tenant's CA but signed with another key", async () => {
    const forged = await leaf(acme, { signingKeyPem: globex.keyPem });
    expect(forged.checkIssued(acmeRoot)).toBe(true);
    expect(verifyAcme(forged)).toEqual({ ok: false, reason: "unknown_ca" });
  });

  it.each([
    [
      "expired",
      { notBefore: new Date(now.getTime() - 2 * DAY), notAfter: new Date(now.getTime() - DAY) },
    ],
    ["not_yet_valid", { notBefore: new Date(now.getTime() + DAY) }],
  ] as const)("refuses a leaf that is %s", async (reason, validity) => {
    expect(verifyAcme(await leaf(acme, validity))).toEqual({ ok: false, reason });
  });

  it("checks validity on every certificate of the path", async () => {
    const notAfter = new Date(now.getTime() - DAY);
    const expiredInt = await createCa({
      commonName: "old int",
      issuer: acme,
      keyPem: leafKey,
      notBefore: new Date(0),
      notAfter,
    });
    const cert = await leaf(expiredInt);
    expect(verifyAcme(cert, [x509(expiredInt)])).toEqual({ ok: false, reason: "expired" });
    const future = await createCa({
      commonName: "future",
      keyPem: leafKey,
      notBefore: new Date(now.getTime() + DAY),
    });
    const signed = await leaf(future);
    expect(
      verifyTenantChain({ leaf: signed, intermediates: [], roots: [x509(future)], now }),
    ).toEqual({
      ok: false,
      reason: "not_yet_valid",
    });
  });

  it("prefers the currently valid one of two roots with the same name and key", async () => {
    const stale = x509(
      await createCa({
        commonName: "acme CA",
        keyPem: acme.keyPem,
        notBefore: new Date(0),
        notAfter: new Date(DAY),
      }),
    );
    const cert = await leaf(acme);
    expect(
      verifyTenantChain({ leaf: cert, intermediates: [], roots: [stale, acmeRoot], now }),
    ).toEqual({ ok: true });
  });

  it("refuses a cA=true leaf (ca_leaf)", async () => {
    expect(verifyAcme(await leaf(acme, { ca: true }))).toEqual({ ok: false, reason: "ca_leaf" });
    expect(verifyAcme(acmeRoot)).toEqual({ ok: false, reason: "ca_leaf" });
  });
});

describe("checkSvid", () => {
  it("reads tenant, service and id from the single URI SAN", async () => {
    expect(checkSvid(await leaf(acme), TD)).toEqual({
      ok: true,
      tenant: "acme",
      service: "web",
      spiffeId: svidUri("acme"),
    });
  });

  it.each([
    ["no SAN", []],
    ["a DNS SAN only", [], ["web.acme.mesh.local"]],
    ["two URI SANs", [svidUri("acme"), svidUri("acme", "orders")]],
    ["a valid and a foreign URI SAN", [svidUri("acme"), "https://example.com/"]],
    ["a non-workload SPIFFE id", ["spiffe://mesh.local/ns/default/sa/web"]],
    ["a query in the URI", [`${svidUri("acme")}?tenant=globex`]],
    ["percent-encoding", ["spiffe://mesh.local/tenant/acm%65/sa/web"]],
    ["a comma that Node quotes", [`${svidUri("acme")}, URI:${svidUri("globex")}`]],
    ["a quote", [`${svidUri("acme")}"`]],
  ])("bad_san: %s", async (_name, uris, dnsNames: string[] = []) => {
    expect(checkSvid(await leaf(acme, { uris, dnsNames }), TD)).toEqual({
      ok: false,
      reason: "bad_san",
    });
  });

  it("wrong_trust_domain", async () => {
    const cert = await leaf(acme, { uris: [svidUri("acme", "web", "other.mesh")] });
    expect(checkSvid(cert, TD)).toEqual({ ok: false, reason: "wrong_trust_domain" });
  });
});

describe("resolvePeerIdentity", () => {
  it("settles the tenant from the SAN and that tenant's CA", async () => {
    expect(resolve([await leaf(acme)], { expectedTenant: "acme" })).toEqual({
      ok: true,
      tenant: "acme",
      service: "web",
      spiffeId: svidUri("acme"),
    });
  });

  it("no_client_cert", () => {
    expect(resolve([])).toEqual({ ok: false, reason: "no_client_cert" });
  });

  it("no_sni_match: SNI chose a tenant that is not configured", async () => {
    expect(resolve([await leaf(acme)], { expectedTenant: "initech" })).toEqual({
      ok: false,
      reason: "no_sni_match",
    });
  });

  it("tenant_mismatch: SNI tenant differs from the SAN tenant (verified: attributed)", async () => {
    expect(resolve([await leaf(acme)], { expectedTenant: "globex" })).toEqual({
      ok: false,
      reason: "tenant_mismatch",
      claimedTenant: "acme",
      verifiedTenant: "acme",
    });
  });

  it("forged-san-on-other-sni-attributed: an unverified chain names no tenant", async () => {
    const stranger = await createCa({ commonName: "stranger", keyPem: leafKey });
    expect(resolve([await leaf(stranger)], { expectedTenant: "globex" })).toEqual({
      ok: false,
      reason: "unknown_ca",
      claimedTenant: "acme",
    });
  });

  it("tenant_mismatch: globex's CA signed a SAN naming acme (attributed to globex)", async () => {
    expect(resolve([await leaf(globex)])).toEqual({
      ok: false,
      reason: "tenant_mismatch",
      claimedTenant: "acme",
      verifiedTenant: "globex",
    });
  });

  it("never trusts a union: acme's SAN fails against acme's CA even if both CAs are listed for globex", async () => {
    const union = new Map([
      ["acme", { roots: [acmeRoot], revoked: false }],
      ["globex", { roots: [acmeRoot, globexRoot], revoked: false }],
    ]);
    const result = resolve([await leaf(globex)], { trust: union });
    expect(result).toMatchObject({ ok: false, reason: "tenant_mismatch", claimedTenant: "acme" });
  });

  it("unknown_ca: signed by no configured CA", async () => {
    const stranger = await createCa({ commonName: "stranger", keyPem: leafKey });
    expect(resolve([await leaf(stranger)])).toEqual({
      ok: false,
      reason: "unknown_ca",
      claimedTenant: "acme",
    });
    const initech = await leaf(stranger, { uris: [svidUri("initech")] });
    expect(resolve([initech])).toEqual({
      ok: false,
      reason: "unknown_ca",
      claimedTenant: "initech",
    });
  });

  it("revoked: a genuine peer of a revoked tenant", async () => {
    const revoked = new Map([["acme", { roots: [acmeRoot], revoked: true }]]);
    expect(resolve([await leaf(acme)], { trust: revoked })).toEqual({
      ok: false,
      reason: "revoked",
      claimedTenant: "acme",
      verifiedTenant: "acme",
    });
  });

  it.each([
    [
      "expired",
      { notAfter: new Date(now.getTime() - 1000), notBefore: new Date(now.getTime() - DAY) },
    ],
    ["not_yet_valid", { notBefore: new Date(now.getTime() + DAY) }],
    ["ca_leaf", { ca: true }],
  ] as const)("%s carries the claimed tenant, unverified", async (reason, opts) => {
    expect(resolve([await leaf(acme, opts)])).toEqual({ ok: false, reason, claimedTenant: "acme" });
  });

  it("bad_san and wrong_trust_domain name no tenant", async () => {
    expect(resolve([await leaf(acme, { uris: [] })])).toEqual({ ok: false, reason: "bad_san" });
    const foreign = await leaf(acme, { uris: [svidUri("acme", "web", "evil.mesh")] });
    expect(resolve([foreign])).toEqual({ ok: false, reason: "wrong_trust_domain" });
  });

  it("uses the intermediates the peer sent", async () => {
    const int = await createCa({ commonName: "acme issuing", issuer: acme, keyPem: leafKey });
    const cert = await leaf(int);
    expect(resolve([cert, x509(int)])).toMatchObject({ ok: true, tenant: "acme" });
    expect(resolve([cert])).toEqual({ ok: false, reason: "unknown_ca", claimedTenant: "acme" });
  });

  it("every reason is a lower_snake_case metric label", () => {
    expect(HANDSHAKE_FAILURE_REASONS).toHaveLength(16);
    for (const reason of HANDSHAKE_FAILURE_REASONS) expect(reason).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });
});

describe("PKIs made by the openssl CLI", () => {
  let dir: string;
  const openssl = (...args: string[]) =>
    execFileSync("/usr/bin/openssl", args, { cwd: dir, stdio: "pipe" });
  /** openssl does not backdate notBefore, and the file-level `now` predates these certs. */
  const afterMint = () => new Date(Date.now() + 60_000);
  const read = (name: string) => readFileSync(join(dir, name), "utf8");

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-openssl-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** CA + leaf; `leafExt` is the leaf's v3 extension section. */
  function mint(
    prefix: string,
    newkey: string[],
    leafExt: string,
  ): { root: X509Certificate; leaf: X509Certificate; key: string } {
    openssl(
      "req",
      "-x509",
      "-new",
      ...newkey,
      "-nodes",
      "-keyout",
      `${prefix}-ca.key`,
      "-out",
      `${prefix}-ca.crt`,
      "-subj",
      `/CN=${prefix} CA`,
      "-days",
      "30",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    openssl(
      "req",
      "-new",
      ...newkey,
      "-nodes",
      "-keyout",
      `${prefix}-leaf.key`,
      "-out",
      `${prefix}-leaf.csr`,
      "-subj",
      "/CN=web",
    );
    writeFileSync(join(dir, `${prefix}.ext`), `[v3]\n${leafExt}\n`);
    openssl(
      "x509",
      "-req",
      "-in",
      `${prefix}-leaf.csr`,
      "-CA",
      `${prefix}-ca.crt`,
      "-CAkey",
      `${prefix}-ca.key`,
      "-set_serial",
      "0x1234abcd",
      "-days",
      "7",
      "-extfile",
      `${prefix}.ext`,
      "-extensions",
      "v3",
      "-out",
      `${prefix}-leaf.crt`,
    );
    return {
      root: new X509Certificate(read(`${prefix}-ca.crt`)),
      leaf: new X509Certificate(read(`${prefix}-leaf.crt`)),
      key: read(`${prefix}-leaf.key`),
    };
  }

  const svidExt = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth,clientAuth",
    `subjectAltName=URI:${svidUri("acme")}`,
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
  ].join("\n");

  it.each([
    ["EC P-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["RSA-2048", ["-newkey", "rsa:2048"]],
  ])("%s CA and leaf resolve to their tenant", (name, newkey) => {
    const { root, leaf: cert, key } = mint(name.replace(/\W/g, ""), newkey, svidExt);
    expect(keyMatchesCert(key, cert)).toBe(true);
    const trust = new Map([["acme", { roots: [root], revoked: false }]]);
    expect(resolve([cert], { trust, now: afterMint() })).toEqual({
      ok: true,
      tenant: "acme",
      service: "web",
      spiffeId: svidUri("acme"),
    });
    expect(verifyTenantChain({ leaf: cert, intermediates: [], roots: [acmeRoot], now })).toEqual({
      ok: false,
      reason: "unknown_ca",
    });
  });

  it("ca_leaf even when cA=TRUE comes without keyCertSign (Node's `ca` says false)", () => {
    const ext = svidExt.replace("CA:FALSE", "CA:TRUE");
    const { root, leaf: cert } = mint(
      "calike",
      ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
      ext,
    );
    expect(cert.ca).toBe(false);
    expect(
      verifyTenantChain({ leaf: cert, intermediates: [], roots: [root], now: afterMint() }),
    ).toEqual({
      ok: false,
      reason: "ca_leaf",
    });
  });
});

describe("attacks on the verifier", () => {
  let dir: string;
  /** Signature checks made with a certificate's key since the test began. */
  let checks: MockInstance<X509Certificate["verify"]>;
  const x = (pem: string) => new X509Certificate(pem);
  const read = (c: OpensslCert) => x(c.certPem);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-attacks-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => checks?.mockRestore());
  const countChecks = () => (checks = vi.spyOn(X509Certificate.prototype, "verify"));

  /** `n` tenants t0…t(n-1), each with its own CA name and one shared (cheap) CA key. */
  function manyTenants(n: number, caKey: PemKeyPair): Map<string, TenantTrust> {
    return new Map(
      Array.from({ length: n }, (_, i) => {
        const name = `t${i} CA`;
        const root = x(
          forgeCert({ subject: name, issuer: name, key: caKey, signer: caKey, ca: true }),
        );
        return [`t${i}`, { roots: [root], revoked: false }];
      }),
    );
  }

  it("huge-exponent-chain-freezes-event-loop: keys are judged before any signature check", () => {
    const huge = hugeExponentKey(2048);
    const forged = sameNameChain(svidUri("t0"), huge);
    const chain = [forged.leafPem, ...forged.intermediatePems].map(x);
    const trust = manyTenants(16, rsaKey());
    countChecks();
    expect(resolve(chain, { trust })).toEqual({
      ok: false,
      reason: "bad_key",
      claimedTenant: "t0",
    });
    // One intermediate alone (no duplicate to spot) is refused for its key as well.
    expect(resolve(chain.slice(0, 2), { trust })).toMatchObject({ reason: "bad_key" });
    expect(checks).not.toHaveBeenCalled();
  });

  it.each([1, 16])(
    "huge-exponent-chain-freezes-event-loop: signature checks stay within the chain's budget (%i tenants)",
    (tenantCount) => {
      const caKey = rsaKey();
      const trust = manyTenants(tenantCount, caKey);
      // Eight same-named intermediates with distinct (acceptable) keys, signed in a loop.
      const loop = sameNameChain(svidUri("t0"), rsaKey);
      // Eight intermediates each naming a configured tenant's CA as issuer (forged signatures).
      const named = Array.from({ length: 8 }, (_, i) =>
        forgeCert({
          subject: "X",
          issuer: `t${i % tenantCount} CA`,
          key: rsaKey(),
          signer: rsaKey(),
          ca: true,
        }),
      );
      for (const intermediates of [loop.intermediatePems, named]) {
        const chain = [loop.leafPem, ...intermediates].map(x);
        countChecks();
        expect(resolve(chain, { trust })).toMatchObject({ ok: false });
        expect(checks.mock.calls.length).toBeLessThanOrEqual(chain.length + SIGNATURE_CHECK_SLACK);
        checks.mockRestore();
      }
    },
  );

  it("own-ca-outside-peer-key-limits: Node's appended trust anchor is not the peer's", () => {
    // A P-521 CA is configuration: the limits on presented keys do not apply to it, though
    // Node puts it at the end of the chain it reports for the peer.
    const caKey = join(dir, "p521-ca.key");
    execFileSync("openssl", [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-521",
      "-out",
      caKey,
    ]);
    const ca = opensslCert(dir, "p521-ca", {
      subject: "/CN=acme P-521 CA",
      key: caKey,
      extensions: caExtensions(),
    });
    const svid = opensslCert(dir, "p521-leaf", {
      subject: "/CN=web",
      issuer: ca,
      extensions: svidExtensions(svidUri("acme")),
    });
    const trust = new Map([["acme", { roots: [x(ca.certPem)], revoked: false }]]);
    expect(resolve([x(svid.certPem), x(ca.certPem)], { trust, now: new Date() })).toMatchObject({
      ok: true,
      tenant: "acme",
    });
    expect(
      verifyTenantChain({
        leaf: x(svid.certPem),
        intermediates: [x(ca.certPem)],
        roots: [x(ca.certPem)],
        // openssl's certificates start now, after this file's `now`.
        now: new Date(),
      }),
    ).toEqual({ ok: true });
  });

  it("renamed-cross-cert-mints-other-tenant: another tenant's CA key under any name", () => {
    const acmeCa = opensslCert(dir, "acme-ca", {
      subject: "/CN=acme CA",
      extensions: caExtensions(),
    });
    const globexCa = opensslCert(dir, "globex-ca", {
      subject: "/CN=globex CA",
      extensions: caExtensions(),
    });
    // acme's CA certifies globex's CA key as "bridge": globex's key now issues under acme.
    const bridge = opensslCert(dir, "bridge", {
      subject: "/CN=bridge",
      issuer: acmeCa,
      key: globexCa.key,
      extensions: caExtensions(),
    });
    const minted = opensslCert(dir, "minted", {
      subject: "/CN=web",
      issuer: bridge,
      extensions: svidExtensions(svidUri("acme")),
    });
    const trust = new Map([
      ["acme", { roots: [read(acmeCa)], revoked: false }],
      ["globex", { roots: [read(globexCa)], revoked: false }],
    ]);
    const later = new Date(Date.now() + 60_000);
    expect(resolve([read(minted), read(bridge)], { trust, now: later })).toEqual({
      ok: false,
      reason: "tenant_mismatch",
      claimedTenant: "acme",
      verifiedTenant: "globex",
    });
  });

  describe("codesigning-leaf-accepted-as-client", () => {
    const later = () => new Date(Date.now() + 60_000);
    let root: OpensslCert;
    let trust: Map<string, TenantTrust>;
    const client = (name: string, extensions: string[], issuer?: OpensslCert) =>
      read(opensslCert(dir, name, { subject: "/CN=web", issuer: issuer ?? root, extensions }));
    const san = `subjectAltName=URI:${svidUri("acme")}`;

    beforeAll(() => {
      root = opensslCert(dir, "eku-root", { subject: "/CN=eku CA", extensions: caExtensions() });
      trust = new Map([["acme", { roots: [read(root)], revoked: false }]]);
    });

    it.each([
      ["EKU codeSigning only", ["extendedKeyUsage=critical,codeSigning"]],
      ["EKU serverAuth only", ["extendedKeyUsage=serverAuth"]],
      ["keyUsage keyEncipherment only", ["keyUsage=critical,keyEncipherment"]],
    ])("%s: refused as a client", (name, extensions) => {
      const leafCert = client(name.replace(/\W/g, ""), [
        "basicConstraints=CA:FALSE",
        san,
        ...extensions,
      ]);
      expect(resolve([leafCert], { trust, now: later() })).toEqual({
        ok: false,
        reason: "bad_key_usage",
        claimedTenant: "acme",
      });
    });

    it("an intermediate restricted to emailProtection cannot issue TLS clients", () => {
      const int = opensslCert(dir, "eku-int", {
        subject: "/CN=eku email CA",
        issuer: root,
        extensions: caExtensions(["extendedKeyUsage=emailProtection"]),
      });
      const leafCert = client("eku-under-email", svidExtensions(svidUri("acme")), int);
      expect(resolve([leafCert, read(int)], { trust, now: later() })).toMatchObject({
        reason: "bad_key_usage",
      });
    });

    it.each([
      ["no EKU, no keyUsage", [san]],
      ["anyExtendedKeyUsage", ["extendedKeyUsage=anyExtendedKeyUsage", san]],
      [
        "clientAuth, digitalSignature",
        ["keyUsage=digitalSignature", "extendedKeyUsage=clientAuth", san],
      ],
    ])("%s: accepted", (name, extensions) => {
      const leafCert = client(name.replace(/\W/g, ""), extensions);
      expect(resolve([leafCert], { trust, now: later() })).toMatchObject({ ok: true });
    });

    it("an upstream's leaf must allow serverAuth", () => {
      const clientOnly = client("client-only", ["extendedKeyUsage=clientAuth", san]);
      const both = client("both", svidExtensions(svidUri("acme")));
      const roots = [read(root)];
      const verify = (leafCert: X509Certificate) =>
        verifyTenantChain({
          leaf: leafCert,
          intermediates: [],
          roots,
          now: later(),
          purpose: "server",
        });
      expect(verify(clientOnly)).toEqual({ ok: false, reason: "bad_key_usage" });
      expect(verify(both)).toEqual({ ok: true });
    });
  });
});
