import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { keyMatchesCert, readPemBundle } from "./certs.js";
import { inspect } from "./inspect.js";
import { createCa, issueLeaf, newRsaKey, type CertAndKey } from "./dev-pki.js";

let ca: CertAndKey;
let leaf: CertAndKey;
let otherKey: string;

beforeAll(async () => {
  [ca, otherKey] = await Promise.all([
    createCa({ commonName: "acme CA", pathLen: 1 }),
    newRsaKey(),
  ]);
  leaf = await issueLeaf(ca, {
    uris: ["spiffe://mesh.local/tenant/acme/sa/web"],
    commonName: "web",
  });
});

describe("readPemBundle", () => {
  it("reads every certificate in order, tolerating text between blocks", () => {
    const certs = readPemBundle(`subject=CN=web\n${leaf.certPem}\n# root\n${ca.certPem}`);
    expect(certs.map((c) => c.subject.split("\n")[0])).toEqual(["CN=web", "CN=acme CA"]);
  });

  it("accepts CRLF line endings", () => {
    expect(readPemBundle(ca.certPem.replace(/\n/g, "\r\n"))).toHaveLength(1);
  });

  it.each([
    ["empty text", "", /no PEM certificate/],
    ["garbage", "hello world\n", /no PEM certificate/],
    ["DER", () => new X509Certificate(ca.certPem).raw.toString("latin1"), /looks like DER/],
    ["a private key", () => `${ca.certPem}${ca.keyPem}`, /PRIVATE KEY.*only CERTIFICATE/],
    ["a truncated block", () => ca.certPem.slice(0, 200), /unmatched BEGIN\/END/],
    [
      "mismatched armour",
      () => ca.certPem.replace("END CERTIFICATE", "END X509 CRL"),
      /ends with END/,
    ],
    [
      "a corrupted body",
      () => ca.certPem.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA"),
      /certificate 1:/,
    ],
    ["non-base64", () => ca.certPem.replace(/\n[A-Za-z0-9+/]/, "\n*"), /not base64/],
    ["trailing bytes", () => withTrailingBytes(ca.certPem), /trailing data/],
  ])("refuses %s", (_name, input, message) => {
    const text = typeof input === "function" ? input() : input;
    expect(() => readPemBundle(text)).toThrow(message);
  });
});

function withTrailingBytes(pem: string): string {
  const der = Buffer.concat([new X509Certificate(pem).raw, Buffer.from([0, 0])]);
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
}

describe("inspection", () => {
  it("reads each SAN from DER, so a comma cannot smuggle a second one", async () => {
    const sneaky = await issueLeaf(ca, {
      keyPem: leaf.keyPem,
      uris: [
        "spiffe://mesh.local/tenant/acme/sa/web, URI:spiffe://mesh.local/tenant/globex/sa/web",
      ],
      dnsNames: ["web.acme"],
    });
    const cert = new X509Certificate(sneaky.certPem);
    expect(inspect(cert).uris).toEqual([
      "spiffe://mesh.local/tenant/acme/sa/web, URI:spiffe://mesh.local/tenant/globex/sa/web",
    ]);
    expect(inspect(new X509Certificate(ca.certPem)).uris).toEqual([]);
  });

  it("keyMatchesCert: the leaf's key, not another; unreadable keys throw", () => {
    const cert = new X509Certificate(leaf.certPem);
    expect(keyMatchesCert(leaf.keyPem, cert)).toBe(true);
    expect(keyMatchesCert(Buffer.from(leaf.keyPem), cert)).toBe(true);
    expect(keyMatchesCert(otherKey, cert)).toBe(false);
    expect(keyMatchesCert(ca.keyPem, cert)).toBe(false);
    expect(() => keyMatchesCert("not a key", cert)).toThrow(/cannot read private key/);
  });

  it("inspect reads cA, pathLen and validity from DER", () => {
    const caView = inspect(new X509Certificate(ca.certPem));
    expect(caView.basicConstraints).toEqual({ ca: true, pathLen: 1 });
    const cert = new X509Certificate(leaf.certPem);
    const view = inspect(cert);
    expect(view.basicConstraints).toEqual({ ca: false });
    expect(view.notBefore).toEqual(new Date(cert.validFrom));
    expect(view.notAfter.getTime() - view.notBefore.getTime()).toBe(365 * 86_400_000);
  });
});
