import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  caExtensions,
  opensslCert,
  svidExtensions,
  type OpensslCert,
} from "../../test/support/openssl.js";
import { satisfiesNameConstraints } from "./name-constraints.js";

const SVID = "spiffe://mesh.local/tenant/acme/sa/web";
let dir: string;
let root: OpensslCert;
let n = 0;

/** An intermediate with `constraints` and a leaf under it with `sans` (openssl syntax). */
function pair(constraints: string, sans: string): [X509Certificate, X509Certificate] {
  const id = `t${n++}`;
  const int = opensslCert(dir, `${id}-int`, {
    subject: `/CN=${id} int`,
    issuer: root,
    extensions: caExtensions([`nameConstraints=critical,${constraints}`]),
  });
  const leaf = opensslCert(dir, `${id}-leaf`, {
    subject: `/CN=${id}`,
    issuer: int,
    extensions: svidExtensions(sans),
  });
  return [new X509Certificate(leaf.certPem), new X509Certificate(int.certPem)];
}

const ok = (constraints: string, sans = SVID) => {
  const [leaf, int] = pair(constraints, sans);
  return satisfiesNameConstraints(leaf, [int]);
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "palisade-nc-"));
  root = opensslCert(dir, "root", { subject: "/CN=root", extensions: caExtensions() });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("satisfiesNameConstraints", () => {
  it("matches a URI constraint against the SPIFFE id's host, case-insensitively", () => {
    expect(ok("permitted;URI:mesh.local")).toBe(true);
    expect(ok("permitted;URI:MESH.local")).toBe(true);
    expect(ok("permitted;URI:other.local")).toBe(false);
    // Only hosts below a leading-period domain, never the domain itself.
    expect(ok("permitted;URI:.mesh.local")).toBe(false);
    expect(ok("permitted;URI:.local")).toBe(true);
  });

  it("excluded beats permitted, and binds without any permitted subtree", () => {
    expect(ok("permitted;URI:mesh.local,excluded;URI:mesh.local")).toBe(false);
    expect(ok("excluded;URI:.local")).toBe(false);
    expect(ok("excluded;URI:other.local")).toBe(true);
  });

  it("dns-constraint-bypassed-by-second-san: every DNS name must fit", () => {
    expect(ok("permitted;DNS:example.com", `${SVID},DNS:www.example.com`)).toBe(true);
    expect(ok("permitted;DNS:example.com", `${SVID},DNS:example.com.evil`)).toBe(false);
    expect(ok("permitted;DNS:example.com", `${SVID},DNS:badexample.com`)).toBe(false);
  });

  it("a constraint on one name type leaves the others alone", () => {
    expect(ok("permitted;DNS:example.com")).toBe(true);
  });

  it("unevaluated-constraint-type-skipped: IP or email constraints refuse the chain", () => {
    expect(ok("permitted;IP:10.0.0.0/255.0.0.0")).toBe(false);
    expect(ok("excluded;email:.example.com")).toBe(false);
  });

  it("ignores CAs without name constraints", () => {
    const leaf = new X509Certificate(
      opensslCert(dir, "plain-leaf", {
        subject: "/CN=plain",
        issuer: root,
        extensions: svidExtensions(SVID),
      }).certPem,
    );
    expect(satisfiesNameConstraints(leaf, [new X509Certificate(root.certPem)])).toBe(true);
  });
});
