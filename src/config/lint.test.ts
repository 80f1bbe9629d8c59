import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, issueLeaf, issueSvid, newRsaKey, type CertAndKey } from "../tls/dev-pki.js";
import { isBroadGlob } from "./lint-grants.js";
import { lintConfig, type Finding } from "./lint.js";
import { configSchema, type ConfigInput } from "./schema.js";
import { opensslCert } from "../../test/support/openssl.js";

const TRUST_DOMAIN = "mesh.local";
const DAY = 86_400_000;
const NOW = new Date();

let dir: string;
let acmeCa: CertAndKey;
let globexCa: CertAndKey;
let acmeLeaf: CertAndKey;
let globexLeaf: CertAndKey;
let spareKey: string;

/** Writes `text` under the fixture directory and returns its relative path. */
async function put(name: string, text: string): Promise<string> {
  await mkdir(join(dir, name, ".."), { recursive: true });
  await writeFile(join(dir, name), text);
  return name;
}

function svid(ca: CertAndKey, tenant: string, service = "orders", trustDomain = TRUST_DOMAIN) {
  return issueSvid(ca, { trustDomain, tenant, service }, { keyPem: spareKey });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-lint-"));
  const [k1, k2, k3, k4, k5] = await Promise.all([1, 2, 3, 4, 5].map(() => newRsaKey()));
  spareKey = k5 as string;
  [acmeCa, globexCa] = await Promise.all([
    createCa({ commonName: "acme CA", keyPem: k1 as string }),
    createCa({ commonName: "globex CA", keyPem: k2 as string }),
  ]);
  [acmeLeaf, globexLeaf] = await Promise.all([
    issueSvid(
      acmeCa,
      { trustDomain: TRUST_DOMAIN, tenant: "acme", service: "orders" },
      { keyPem: k3 as string },
    ),
    issueSvid(
      globexCa,
      { trustDomain: TRUST_DOMAIN, tenant: "globex", service: "orders" },
      { keyPem: k4 as string },
    ),
  ]);
  for (const [tenant, ca, leaf] of [
    ["acme", acmeCa, acmeLeaf],
    ["globex", globexCa, globexLeaf],
  ] as const) {
    await put(`${tenant}/ca.crt`, ca.certPem);
    await put(`${tenant}/orders.crt`, leaf.certPem);
    await put(`${tenant}/orders.key`, leaf.keyPem);
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const files = (tenant: string) => ({
  ca: `${tenant}/ca.crt`,
  cert: `${tenant}/orders.crt`,
  key: `${tenant}/orders.key`,
});

function lint(overrides: Partial<ConfigInput> = {}, now = NOW): Promise<Finding[]> {
  const config = configSchema.parse({
    service: "orders",
    trustDomain: TRUST_DOMAIN,
    inbound: { target: { path: "/tenants/{tenant}/**" } },
    tenants: { acme: files("acme"), globex: files("globex") },
    ...overrides,
  });
  return lintConfig({ config, baseDir: dir, now });
}

/** `level rule path`, the part of a finding tests pin down (messages may be reworded). */
const summary = (findings: Finding[]) => findings.map((f) => `${f.level} ${f.rule} ${f.path}`);

type GrantInput = NonNullable<ConfigInput["grants"]>[number];
function grant(overrides: Partial<GrantInput> = {}): GrantInput {
  return {
    from: "globex",
    to: "acme",
    methods: ["GET"],
    paths: ["/tenants/acme/reports/**"],
    expires: new Date(NOW.getTime() + 30 * DAY),
    ...overrides,
  };
}

describe("a clean config", () => {
  it("has no findings", async () => {
    expect(await lint()).toEqual([]);
  });
});

describe("route rules", () => {
  it("warns when no inbound target rule names the target tenant", async () => {
    expect(summary(await lint({ inbound: {} }))).toEqual([
      "warning inbound_target_missing inbound.target",
    ]);
  });

  it("warns when the app may name the tenant without a signed context", async () => {
    expect(summary(await lint({ outbound: { allowUnsignedTenant: true } }))).toEqual([
      "warning unsigned_tenant_allowed outbound.allowUnsignedTenant",
    ]);
  });

  it("warns about plain-http upstreams and upstreams without a target rule", async () => {
    const target = { path: "/tenants/{tenant}/**" };
    const upstreams = {
      plain: { url: "HTTP://plain.svc:8080", target },
      untargeted: { url: "https://untargeted.svc:15006" },
      fine: { url: "https://fine.svc:15006", target },
    };
    expect(summary(await lint({ outbound: { upstreams } }))).toEqual([
      "warning upstream_plain_http outbound.upstreams.plain.url",
      "warning upstream_target_missing outbound.upstreams.untargeted.target",
    ]);
  });
});

describe("listener rules", () => {
  const target = { path: "/tenants/{tenant}/**" };

  it("duplicate-listen-ports-pass-check: one fixed port on overlapping hosts is an error", async () => {
    expect(
      summary(
        await lint({
          inbound: { target, listen: "0.0.0.0:15006" },
          outbound: { listen: "127.0.0.1:15006" },
          admin: { listen: "[::]:15006" },
        }),
      ),
    ).toEqual([
      "error listen_address_conflict outbound.listen",
      "error listen_address_conflict admin.listen",
    ]);
  });

  it("ipv4-wildcard-beside-ipv6-refused: 0.0.0.0 and [::1] on one port both bind", async () => {
    const findings = await lint({
      inbound: { target, listen: "0.0.0.0:15006" },
      outbound: { listen: "[::1]:15006" },
      admin: { listen: "localhost:15006" },
    });
    expect(summary(findings)).toEqual([]);
  });

  it("allows one port on distinct hosts, and port 0 anywhere", async () => {
    const findings = await lint({
      inbound: { target, listen: "127.0.0.1:15006" },
      outbound: { listen: "127.0.0.2:15006" },
      admin: { listen: "0.0.0.0:0" },
    });
    expect(summary(findings)).toEqual([]);
  });

  it("warns when the per-address handshake cap cannot bind one address", async () => {
    const limits = { pendingHandshakes: 32, pendingHandshakesPerAddress: 32 };
    expect(summary(await lint({ inbound: { target, limits } }))).toEqual([
      "warning pending_handshakes_per_address_ineffective inbound.limits.pendingHandshakesPerAddress",
    ]);
  });
});

describe("grant rules", () => {
  it("accepts a narrow, read-only, expiring grant", async () => {
    expect(await lint({ grants: [grant({ fields: ["id"] })] })).toEqual([]);
  });

  it("refuses grants naming unconfigured tenants, on each side", async () => {
    const grants = [grant({ from: "umbrella" }), grant({ to: "initech" })];
    expect(summary(await lint({ grants }))).toEqual([
      "error grant_unknown_tenant grants.0.from",
      "error grant_unknown_tenant grants.1.to",
    ]);
  });

  it("warns about grants naming a revoked tenant", async () => {
    const tenants = { acme: files("acme"), globex: { ...files("globex"), revoked: true } };
    expect(summary(await lint({ tenants, grants: [grant()] }))).toEqual([
      "warning grant_revoked_tenant grants.0.from",
    ]);
  });

  it.each([
    ["/**", true],
    ["/*", true],
    ["/*/reports/**", true],
    ["/**/reports", true],
    ["/ten*/acme/**", true],
    ["/tenants/**", false],
    ["/tenants/acme/*", false],
    ["/", false],
  ])("isBroadGlob(%s) is %s", (glob, broad) => {
    expect(isBroadGlob(glob)).toBe(broad);
  });

  it("refuses a path glob that opens every resource", async () => {
    const grants = [grant({ paths: ["/tenants/acme/reports/**", "/**"] })];
    expect(summary(await lint({ grants }))).toEqual(["error grant_wildcard_path grants.0.paths.1"]);
  });

  it("warns about writes below **, and refuses them on a wildcard path", async () => {
    const grants = [
      grant({ methods: ["GET", "PUT"], paths: ["/tenants/acme/orders/**", "/tenants/acme/one"] }),
      grant({ methods: ["DELETE"], paths: ["/**"] }),
    ];
    expect(summary(await lint({ grants }))).toEqual([
      "error grant_wildcard_path grants.1.paths.0",
      "error grant_wildcard_write grants.1.paths.0",
      "warning grant_wildcard_write grants.0.paths.0",
    ]);
  });

  it("warns about expired grants, and about grants lasting more than a year", async () => {
    const at = (ms: number) => new Date(NOW.getTime() + ms);
    const grants = [
      grant({ expires: at(-1) }),
      grant({ expires: at(0) }),
      grant({ expires: at(364 * DAY) }),
      grant({ expires: at(366 * DAY) }),
    ];
    expect(summary(await lint({ grants }))).toEqual([
      "warning grant_expired grants.0.expires",
      "warning grant_expired grants.1.expires",
      "warning grant_long_lived grants.3.expires",
    ]);
  });

  it("refuses duplicate grant ids, naming every repeat", async () => {
    const grants = [grant({ id: "a" }), grant({ id: "b" }), grant(), grant(), grant({ id: "a" })];
    const findings = await lint({ grants });
    expect(summary(findings)).toEqual(["error grant_duplicate_id grants.4.id"]);
    expect(findings[0]?.message).toContain("grants.0");
  });

  it("refuses path globs and fields the grant table would refuse, every one of them", async () => {
    const grants = [
      grant({ paths: ["/tenants/acme/report-*", "/tenants/{tenant}/x", "/tenants//acme"] }),
      grant({ fields: ["items[].id", "items.id"] }),
    ];
    const findings = await lint({ grants });
    expect(summary(findings)).toEqual([
      "error grant_invalid_path grants.0.paths.0",
      "error grant_invalid_path grants.0.paths.1",
      "error grant_invalid_path grants.0.paths.2",
      "error grant_invalid_fields grants.1.fields",
    ]);
    expect(findings[0]?.message).toContain("only allowed as whole segments");
  });

  it("warns that fields do not filter the request bodies of write grants", async () => {
    const grants = [
      grant({ methods: ["GET", "POST"], paths: ["/tenants/acme/reports"], fields: ["id"] }),
    ];
    expect(summary(await lint({ grants }))).toEqual(["warning grant_write_fields grants.0.fields"]);
  });
});

describe("certificate rules", () => {
  it("server-only-cert-refused-as-client: a certificate peers refuse in one of its roles", async () => {
    // The tenant's certificate serves inbound (server) and outbound (client) alike.
    const caKey = await put("x/acme-ca.key", acmeCa.keyPem);
    const leaf = opensslCert(join(dir, "x"), "server-only", {
      subject: "/CN=orders",
      days: 365,
      issuer: { crt: join(dir, "acme/ca.crt"), key: join(dir, caKey) },
      extensions: [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        `subjectAltName=URI:spiffe://${TRUST_DOMAIN}/tenant/acme/sa/orders`,
      ],
    });
    const tenants = { acme: { ...files("acme"), cert: leaf.crt, key: leaf.key } };
    // openssl dates the certificate from now, after this file's NOW.
    const findings = await lint({ tenants }, new Date(Date.now() + 60_000));
    expect(summary(findings)).toEqual(["warning cert_key_usage tenants.acme.cert"]);
    expect(findings[0]?.message).toContain("client authentication");
  });

  it("refuses a key that is not the certificate's", async () => {
    const tenants = {
      acme: { ...files("acme"), key: "globex/orders.key" },
      globex: files("globex"),
    };
    expect(summary(await lint({ tenants }))).toEqual(["error cert_key_mismatch tenants.acme.key"]);
  });

  it.each([
    ["another trust domain", { td: "other.example" }, "outside trust domain mesh.local"],
    ["another service", { service: "billing" }, "names service billing"],
    ["another tenant", { tenant: "globex" }, "names tenant globex"],
  ])(
    "refuses a certificate naming %s",
    async (_, id: { tenant?: string; service?: string; td?: string }, message) => {
      const leaf = await svid(acmeCa, id.tenant ?? "acme", id.service, id.td);
      const tenants = {
        acme: {
          ...files("acme"),
          cert: await put("x/named.crt", leaf.certPem),
          key: await put("x/spare.key", spareKey),
        },
      };
      const findings = await lint({ tenants });
      expect(summary(findings)).toEqual(["error cert_san_mismatch tenants.acme.cert"]);
      expect(findings[0]?.message).toContain(message);
    },
  );

  it("refuses a certificate that is not an SVID", async () => {
    const twoUris = await issueLeaf(acmeCa, {
      uris: [
        `spiffe://${TRUST_DOMAIN}/tenant/acme/sa/orders`,
        `spiffe://${TRUST_DOMAIN}/tenant/globex/sa/orders`,
      ],
      keyPem: spareKey,
    });
    const tenants = {
      acme: {
        ...files("acme"),
        cert: await put("x/two-uris.crt", twoUris.certPem),
        key: await put("x/spare.key", spareKey),
      },
    };
    expect(summary(await lint({ tenants }))).toEqual(["error cert_not_svid tenants.acme.cert"]);
  });

  it("refuses a certificate that does not chain to its tenant's CA", async () => {
    const misissued = await svid(globexCa, "acme");
    const tenants = {
      acme: {
        ...files("acme"),
        cert: await put("x/misissued.crt", misissued.certPem),
        key: await put("x/spare.key", spareKey),
      },
      globex: files("globex"),
    };
    // globex's CA issued it, but acme's trust is untouched: a broken cert, not a shared CA.
    expect(summary(await lint({ tenants }))).toEqual([
      "error cert_untrusted_chain tenants.acme.cert",
    ]);
  });

  it("reports every problem of every tenant, not just the first", async () => {
    const tenants = {
      acme: files("acme"),
      globex: { ca: "globex/ca.crt", cert: "acme/orders.crt", key: "globex/orders.key" },
      initech: { ca: "missing/ca.crt", cert: "globex/orders.crt", key: "acme/orders.key" },
    };
    expect(summary(await lint({ tenants }))).toEqual([
      "error cert_key_mismatch tenants.globex.key",
      "error cert_san_mismatch tenants.globex.cert",
      "error cert_untrusted_chain tenants.globex.cert",
      "error tenant_material_unreadable tenants.initech.ca",
      "error cert_key_mismatch tenants.initech.key",
      "error cert_san_mismatch tenants.initech.cert",
    ]);
  });

  it("says which file is unreadable or not what it should be", async () => {
    const tenants = {
      acme: { ...files("acme"), cert: await put("x/garbage.crt", "not a certificate\n") },
      globex: { ...files("globex"), key: "globex/orders.crt" },
    };
    const findings = await lint({ tenants });
    expect(summary(findings)).toEqual([
      "error tenant_material_unreadable tenants.acme.cert",
      "error tenant_material_unreadable tenants.globex.key",
    ]);
    expect(findings[0]?.message).toContain("no PEM certificate");
  });

  it("warns about certificates expiring within 30 days", async () => {
    const end = new Date(new X509Certificate(acmeLeaf.certPem).validTo);
    const findings = await lint(
      { tenants: { acme: files("acme") } },
      new Date(end.getTime() - 10 * DAY),
    );
    expect(summary(findings)).toEqual(["warning cert_expiring tenants.acme.cert"]);
    expect(findings[0]?.message).toMatch(/in (9|10) day/);
  });

  it("refuses expired and not-yet-valid certificates, without blaming the chain", async () => {
    const leaf = new X509Certificate(acmeLeaf.certPem);
    const tenants = { acme: files("acme") };
    const after = await lint({ tenants }, new Date(new Date(leaf.validTo).getTime() + DAY));
    expect(summary(after)).toEqual(["error cert_expired tenants.acme.cert"]);
    const before = await lint({ tenants }, new Date(new Date(leaf.validFrom).getTime() - DAY));
    expect(summary(before)).toEqual([
      "error cert_not_yet_valid tenants.acme.cert",
      "error cert_not_yet_valid tenants.acme.ca",
    ]);
  });

  it("only warns about an expired CA left in a bundle beside a valid one (rollover)", async () => {
    const old = await createCa({
      commonName: "acme CA 2015",
      keyPem: spareKey,
      notBefore: new Date("2015-01-01T00:00:00Z"),
      notAfter: new Date("2016-01-01T00:00:00Z"),
    });
    const ca = await put("x/rollover.crt", old.certPem + acmeCa.certPem);
    expect(summary(await lint({ tenants: { acme: { ...files("acme"), ca } } }))).toEqual([
      "warning cert_expired tenants.acme.ca",
    ]);
  });
});

describe("shared_ca", () => {
  it("refuses two tenants trusting the same CA file", async () => {
    const tenants = { acme: files("acme"), globex: { ...files("globex"), ca: "acme/ca.crt" } };
    const findings = await lint({ tenants });
    // globex's own certificate no longer chains to the (acme) CA it trusts.
    expect(summary(findings)).toEqual([
      "error cert_untrusted_chain tenants.globex.cert",
      "error shared_ca tenants.globex.ca",
    ]);
    expect(findings[1]?.message).toContain("tenants acme and globex");
  });

  it("refuses the same CA key under another certificate", async () => {
    const reissued = await createCa({ commonName: "acme CA (reissued)", keyPem: acmeCa.keyPem });
    const ca = await put("x/reissued.crt", globexCa.certPem + reissued.certPem);
    const tenants = { acme: files("acme"), globex: { ...files("globex"), ca } };
    expect(summary(await lint({ tenants }))).toEqual(["error shared_ca tenants.globex.ca"]);
  });

  it("refuses a CA bundle holding another tenant's certificate", async () => {
    const ca = await put("x/with-leaf.crt", globexCa.certPem + acmeLeaf.certPem);
    const tenants = { acme: files("acme"), globex: { ...files("globex"), ca } };
    const findings = await lint({ tenants });
    expect(summary(findings)).toEqual(["error shared_ca tenants.globex.ca"]);
    expect(findings[0]?.message).toContain("globex's CA bundle holds acme's certificate");
  });

  it("refuses an issuing key cross-signed under both tenants' CAs", async () => {
    const k = await newRsaKey();
    const [underAcme, underGlobex] = await Promise.all([
      createCa({ commonName: "shared issuer", keyPem: k, issuer: acmeCa }),
      createCa({ commonName: "shared issuer", keyPem: k, issuer: globexCa }),
    ]);
    const [a, g] = await Promise.all([svid(underAcme, "acme"), svid(underGlobex, "globex")]);
    const tenants = {
      acme: {
        ...files("acme"),
        cert: await put("x/a-chain.crt", a.certPem + underAcme.certPem),
        key: await put("x/spare.key", spareKey),
      },
      globex: {
        ...files("globex"),
        cert: await put("x/g-chain.crt", g.certPem + underGlobex.certPem),
        key: "x/spare.key",
      },
    };
    const findings = await lint({ tenants });
    expect(summary(findings)).toEqual(["error shared_ca tenants.globex.ca"]);
    expect(findings[0]?.message).toContain("both chain through the key of");
  });
});

describe("lintConfig", () => {
  it("lists errors before warnings", async () => {
    const findings = await lint({
      inbound: {},
      grants: [grant({ expires: new Date(NOW.getTime() - DAY) }), grant({ from: "umbrella" })],
    });
    expect(summary(findings)).toEqual([
      "error grant_unknown_tenant grants.1.from",
      "warning inbound_target_missing inbound.target",
      "warning grant_expired grants.0.expires",
    ]);
  });
});
