/**
 * The loader's refusals, one real certificate (openssl, EC P-256) per way a tenant's files
 * can be wrong, and the promise that makes them safe to change: the loader refuses on the
 * first error finding of the same inspector `palisade check` runs, which lists them all.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  caExtensions,
  opensslCert,
  svidExtensions,
  type OpensslCert,
} from "../../test/support/openssl.js";
import { checkConfig } from "../check.js";
import { configSchema } from "../config/schema.js";
import { loadTenantMaterial, TenantMaterialError } from "./tenant-material.js";

const TD = "mesh.local";
const SVID = `spiffe://${TD}/tenant/acme/sa/orders`;
const DAY = 86_400_000;
const LEAF_EXTENSIONS = [
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth,clientAuth",
  `subjectAltName=URI:${SVID}`,
];

let dir: string;
let root: OpensslCert;
let good: OpensslCert;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "palisade-material-"));
  root = opensslCert(dir, "root", { subject: "/CN=acme CA", extensions: caExtensions() });
  good = leaf(svidExtensions(SVID));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A leaf under `issuer` (default the tenant's CA) with exactly `extensions`. */
function leaf(extensions: string[], issuer: OpensslCert = root): OpensslCert {
  const name = `leaf${n++}`;
  return opensslCert(dir, name, { subject: `/CN=${name}`, issuer, extensions });
}

function file(text: string): string {
  const path = join(dir, `file${n++}`);
  writeFileSync(path, text);
  return path;
}

type Files = { ca: string; cert: string; key: string };

function load(files: Partial<Files> = {}, now = new Date()) {
  const config = configSchema.parse({
    service: "orders",
    trustDomain: TD,
    tenants: { acme: { ca: root.crt, cert: good.crt, key: good.key, ...files } },
  }).tenants["acme"];
  if (config === undefined) throw new Error("no tenant config");
  return loadTenantMaterial({
    tenant: "acme",
    config,
    baseDir: dir,
    trustDomain: TD,
    service: "orders",
    now,
  });
}

/** The loader's refusal as `key.path: message`; fails the test if it loaded. */
async function refusal(files: Partial<Files> = {}, now?: Date): Promise<string> {
  const err = await load(files, now).then(
    () => new Error("loaded"),
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(TenantMaterialError);
  return err.message;
}

describe("loadTenantMaterial", () => {
  it("loads a good SVID, its key and its CA", async () => {
    const material = await load();
    expect(material.spiffeId).toBe(SVID);
    expect(material.expiresAt).toEqual(new Date(new X509Certificate(good.certPem).validTo));
  });

  it("refuses an expired certificate, and one not yet valid", async () => {
    const cert = new X509Certificate(good.certPem);
    const after = new Date(new Date(cert.validTo).getTime() + DAY);
    expect(await refusal({}, after)).toMatch(/^tenants\.acme\.cert: .* expired at /);
    const before = new Date(new Date(cert.validFrom).getTime() - DAY);
    expect(await refusal({}, before)).toMatch(/^tenants\.acme\.cert: .* is not valid before /);
  });

  it.each([
    [
      "another trust domain",
      "spiffe://other.example/tenant/acme/sa/orders",
      /outside trust domain/,
    ],
    ["another tenant", `spiffe://${TD}/tenant/globex/sa/orders`, /names tenant globex/],
    ["another service", `spiffe://${TD}/tenant/acme/sa/billing`, /names service billing/],
    ["no SPIFFE id at all", "https://acme.example/", /not an SVID/],
  ])("refuses an SVID naming %s", async (_, uri, message) => {
    const named = leaf(svidExtensions(uri));
    expect(await refusal({ cert: named.crt, key: named.key })).toMatch(message);
  });

  it.each([
    ["no SAN", ["keyUsage=critical,digitalSignature"]],
    ["only a DNS SAN", ["keyUsage=critical,digitalSignature", "subjectAltName=DNS:orders.acme"]],
    ["two URI SANs", [`subjectAltName=URI:${SVID},URI:${SVID}x`]],
  ])("refuses a leaf with %s", async (_, extensions) => {
    const bad = leaf(extensions);
    expect(await refusal({ cert: bad.crt, key: bad.key })).toMatch(
      /^tenants\.acme\.cert: not an SVID/,
    );
  });

  it("refuses a leaf that says it is a CA", async () => {
    const caLeaf = leaf(caExtensions([`subjectAltName=URI:${SVID}`]));
    expect(await refusal({ cert: caLeaf.crt, key: caLeaf.key })).toMatch(/cA=TRUE/);
  });

  it.each([
    ["a keyUsage without digitalSignature", ["keyUsage=critical,keyEncipherment"]],
    ["an extendedKeyUsage for code signing only", ["extendedKeyUsage=codeSigning"]],
  ])("refuses %s: no TLS role is left", async (_, extensions) => {
    const bad = leaf([...extensions, `subjectAltName=URI:${SVID}`]);
    expect(await refusal({ cert: bad.crt, key: bad.key })).toMatch(
      /allows neither TLS server nor client authentication/,
    );
  });

  it("refuses a key that is not the certificate's", async () => {
    expect(await refusal({ key: root.key })).toMatch(/^tenants\.acme\.key: .* is not the private/);
  });

  const malformed: [string, keyof Files, () => string, RegExp][] = [
    ["a truncated certificate", "cert", () => good.certPem.slice(0, 300), /unmatched BEGIN\/END/],
    ["a key in the CA file", "ca", () => root.keyPem, /only CERTIFICATE blocks/],
    ["garbage for a key", "key", () => "not a key\n", /cannot read private key/],
  ];
  it.each(malformed)("refuses %s", async (_, key, text, message) => {
    const refused = await refusal({ [key]: file(text()) });
    expect(refused.startsWith(`tenants.acme.${key}: `)).toBe(true);
    expect(refused).toMatch(message);
  });

  it("refuses a file it cannot read", async () => {
    expect(await refusal({ ca: join(dir, "missing.crt") })).toMatch(
      /^tenants\.acme\.ca: cannot read/,
    );
  });

  it("refuses a CA file whose certificate may not issue", async () => {
    const notCa = opensslCert(dir, "not-a-ca", {
      subject: "/CN=acme not a CA",
      extensions: ["basicConstraints=critical,CA:FALSE"],
    });
    const issued = leaf(svidExtensions(SVID), notCa);
    expect(await refusal({ ca: notCa.crt, cert: issued.crt, key: issued.key })).toMatch(
      /^tenants\.acme\.ca: nothing in the CA bundle may issue/,
    );
  });

  it("refuses a chain through a sub-CA whose name constraints exclude the SVID", async () => {
    const sub = opensslCert(dir, "sub", {
      subject: "/CN=acme sub",
      issuer: root,
      extensions: caExtensions(["nameConstraints=critical,permitted;URI:other.example"]),
    });
    const constrained = leaf(svidExtensions(SVID), sub);
    const chain = file(constrained.certPem + sub.certPem);
    expect(await refusal({ cert: chain, key: constrained.key })).toMatch(
      /does not chain to acme's own CA .*\(name_constraint_violation\)/,
    );
  });

  it("refuses an extension it cannot process when critical, or read at all", async () => {
    const critical = leaf(svidExtensions(SVID, ["1.2.3.4=critical,DER:0500"]));
    expect(await refusal({ cert: critical.crt, key: critical.key })).toMatch(
      /critical extensions Palisade cannot process: 1\.2\.3\.4/,
    );
    // basicConstraints with a byte after its SEQUENCE: never half-read.
    const trailing = leaf([...LEAF_EXTENSIONS, "2.5.29.19=DER:30030101FF00"]);
    expect(await refusal({ cert: trailing.crt, key: trailing.key })).toMatch(
      /extensions that do not decode: 2\.5\.29\.19/,
    );
  });
});

describe("loader and check: one inspector", () => {
  it("the loader stops at the first error that check lists among all of them", async () => {
    // Three problems at once: another tenant named, the wrong key, an untrusted issuer.
    const stranger = opensslCert(dir, "stranger", { subject: "/CN=x", extensions: caExtensions() });
    const bad = leaf(svidExtensions(`spiffe://${TD}/tenant/globex/sa/orders`), stranger);
    const files = { ca: root.crt, cert: bad.crt, key: good.key };
    const configFile = file(
      stringify({ service: "orders", trustDomain: TD, tenants: { acme: files } }),
    );
    const report = await checkConfig(configFile, new Date());
    const errors = report.findings.filter((f) => f.level === "error");
    expect(errors.map((f) => `${f.rule} ${f.path}`)).toEqual([
      "cert_key_mismatch tenants.acme.key",
      "cert_san_mismatch tenants.acme.cert",
      "cert_untrusted_chain tenants.acme.cert",
    ]);
    const first = errors[0];
    expect(await refusal(files)).toBe(`${first?.path}: ${first?.message}`);
  });
});
