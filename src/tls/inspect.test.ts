/**
 * The typed view read from DER: every field the loader, `check` and the handshake verifier
 * use, from certificates openssl made with exactly those extensions.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caExtensions, opensslCert, type OpensslCert } from "../../test/support/openssl.js";
import { KEY_USAGE } from "./der.js";
import { inspect } from "./inspect.js";
import { readPemBundle } from "./certs.js";
import { resolvePeerIdentity, verifyTenantChain } from "./verify-chain.js";

let dir: string;
let root: OpensslCert;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "palisade-inspect-"));
  root = opensslCert(dir, "root", {
    subject: "/CN=acme CA",
    extensions: caExtensions(
      ["nameConstraints=critical,permitted;URI:mesh.local,excluded;DNS:evil.example"],
      1,
    ),
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * `pem` with its notBefore rewritten in place to a time RFC 5280 forbids (an offset, no
 * seconds): OpenSSL still parses the certificate; its signature no longer matters.
 */
function withBadTime(pem: string): X509Certificate {
  const der = Buffer.from(new X509Certificate(pem).raw);
  const at = der.indexOf(Buffer.from([0x17, 0x0d])) + 2;
  der.write("2412010000+00", at, "latin1");
  return new X509Certificate(der);
}

function issue(extensions: string[]): X509Certificate {
  const made = opensslCert(dir, `c${n++}`, { subject: "/CN=web", issuer: root, extensions });
  return new X509Certificate(made.certPem);
}

describe("inspect", () => {
  it("reads a CA's basic constraints, key usage, name constraints and key id", () => {
    const view = inspect(new X509Certificate(root.certPem));
    expect(view).toMatchObject({
      version: 3,
      basicConstraints: { ca: true, pathLen: 1 },
      canIssue: true,
      claimsCa: true,
      nameConstraints: {
        permitted: [{ base: { kind: "uri", value: "mesh.local" }, bounded: false }],
        excluded: [{ base: { kind: "dns", value: "evil.example" }, bounded: false }],
      },
      unreadable: [],
      unhandledCritical: [],
    });
    expect(view.keyUsage! & KEY_USAGE.keyCertSign).toBe(KEY_USAGE.keyCertSign);
    expect(view.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(view.key).toMatchObject({ type: "ec", curve: "prime256v1" });
  });

  it("reads a leaf's SANs by kind, EKU, and the issuer's key id", () => {
    const leaf = issue([
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth,clientAuth",
      "subjectAltName=URI:spiffe://mesh.local/tenant/acme/sa/web,DNS:web.acme,IP:10.0.0.1,email:a@b.c",
    ]);
    const view = inspect(leaf);
    expect(view.uris).toEqual(["spiffe://mesh.local/tenant/acme/sa/web"]);
    expect(view.dnsNames).toEqual(["web.acme"]);
    expect(view.otherNames).toBe(2);
    expect(view.extKeyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(view).toMatchObject({ canIssue: false, claimsCa: false, keyUsage: 1 });
    expect(view.authorityKeyId).toBe(inspect(new X509Certificate(root.certPem)).subjectKeyId);
    expect(view.notAfter).toEqual(new Date(leaf.validTo));
  });

  it("san-comma-smuggling: a URI holding ', URI:' is one SAN, however Node displays it", () => {
    // Written as raw DER: SEQUENCE { [6] "spiffe://mesh.local/a, URI:spiffe://mesh.local/b" }.
    const uri = "spiffe://mesh.local/a, URI:spiffe://mesh.local/b";
    const body = Buffer.concat([Buffer.from([0x86, uri.length]), Buffer.from(uri, "latin1")]);
    const der = Buffer.concat([Buffer.from([0x30, body.length]), body]).toString("hex");
    const view = inspect(issue([`2.5.29.17=DER:${der}`]));
    expect(view.uris).toEqual([uri]);
  });

  it("marks an extension with trailing bytes unreadable; critical ones also unhandled", () => {
    const soft = inspect(issue(["2.5.29.19=DER:30030101FF00"]));
    expect(soft).toMatchObject({ unreadable: ["2.5.29.19"], unhandledCritical: [] });
    expect(soft.basicConstraints).toBeUndefined();
    const hard = inspect(issue(["2.5.29.15=critical,DER:030207"]));
    expect(hard).toMatchObject({ unreadable: ["2.5.29.15"], unhandledCritical: ["2.5.29.15"] });
    expect(inspect(issue(["1.2.3.4=critical,DER:0500"])).unhandledCritical).toEqual(["1.2.3.4"]);
  });

  it("parses one DER once: a peer's chain, new objects on every connection, shares a view", () => {
    const pem = opensslCert(dir, "shared", {
      subject: "/CN=shared",
      issuer: root,
      extensions: ["subjectAltName=URI:spiffe://mesh.local/tenant/acme/sa/web"],
    }).certPem;
    const first = inspect(new X509Certificate(pem));
    expect(inspect(new X509Certificate(pem))).toBe(first);
  });

  it("unreadable-extension-fails-closed: the verifier refuses what it could not read", () => {
    const leaf = issue([
      "2.5.29.19=DER:30030101FF00",
      "subjectAltName=URI:spiffe://mesh.local/tenant/acme/sa/web",
    ]);
    const roots = [new X509Certificate(root.certPem)];
    expect(verifyTenantChain({ leaf, intermediates: [], roots, now: new Date() })).toEqual({
      ok: false,
      reason: "bad_certificate",
    });
  });

  it("bad-time-intermediate-throws: a date OpenSSL accepts but RFC 5280 forbids is refused", () => {
    const good = issue(["subjectAltName=URI:spiffe://mesh.local/tenant/acme/sa/web"]);
    const bad = withBadTime(root.certPem);
    expect(() => inspect(bad)).toThrow(/bad certificate time/);
    const roots = [new X509Certificate(root.certPem)];
    const now = new Date();
    expect(verifyTenantChain({ leaf: good, intermediates: [bad], roots, now })).toEqual({
      ok: false,
      reason: "bad_certificate",
    });
    const tenants = new Map([["acme", { roots, revoked: false }]]);
    const chain = [good, bad];
    expect(resolvePeerIdentity({ chain, trustDomain: "mesh.local", tenants, now })).toMatchObject({
      ok: false,
      reason: "bad_certificate",
    });
    const pem = `-----BEGIN CERTIFICATE-----\n${bad.raw.toString("base64")}\n-----END CERTIFICATE-----\n`;
    expect(() => readPemBundle(pem)).toThrow(/does not decode as X\.509: bad certificate time/);
  });
});
