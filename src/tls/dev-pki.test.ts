import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyMatchesCert, readPemBundle } from "./certs.js";
import { initDevPki, type DevPkiResult } from "./dev-pki.js";
import { resolvePeerIdentity } from "./verify-chain.js";

const openssl = (...args: string[]) =>
  execFileSync("/usr/bin/openssl", args, { stdio: "pipe" }).toString();

describe("initDevPki", () => {
  let out: string;
  let result: DevPkiResult;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), "palisade-devpki-"));
    result = await initDevPki({
      out,
      trustDomain: "mesh.local",
      tenants: ["acme", "globex"],
      services: ["web", "orders"],
      days: 30,
    });
  });
  afterAll(() => rm(out, { recursive: true, force: true }));

  const file = (...parts: string[]) => join(out, ...parts);

  it("reports what it wrote", () => {
    expect(
      result.tenants.map((t) => [t.tenant, t.caReused, t.leaves.map((l) => l.spiffeId)]),
    ).toEqual([
      [
        "acme",
        false,
        ["spiffe://mesh.local/tenant/acme/sa/web", "spiffe://mesh.local/tenant/acme/sa/orders"],
      ],
      [
        "globex",
        false,
        ["spiffe://mesh.local/tenant/globex/sa/web", "spiffe://mesh.local/tenant/globex/sa/orders"],
      ],
    ]);
    expect(result.files).toHaveLength(12);
    expect(result.files).toContain(file("globex", "orders.key"));
  });

  it("writes keys readable by the owner only", async () => {
    for (const name of ["ca.key", "web.key", "orders.key"]) {
      expect((await stat(file("acme", name))).mode & 0o777).toBe(0o600);
    }
  });

  it.each(["acme", "globex"])(
    "%s leaves verify with openssl against their own CA only",
    (tenant) => {
      const other = tenant === "acme" ? "globex" : "acme";
      for (const service of ["web", "orders"]) {
        const leaf = file(tenant, `${service}.crt`);
        for (const purpose of ["sslclient", "sslserver"]) {
          expect(
            openssl("verify", "-purpose", purpose, "-CAfile", file(tenant, "ca.crt"), leaf),
          ).toContain(": OK");
        }
        expect(() => openssl("verify", "-CAfile", file(other, "ca.crt"), leaf)).toThrow();
      }
    },
  );

  it("gives each leaf exactly one URI SAN, plus its server name as a DNS SAN", () => {
    const san = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", file("acme", "web.crt"));
    const names = san.split("\n").slice(1).join("").trim().split(/,\s*/);
    expect(names).toEqual([
      "URI:spiffe://mesh.local/tenant/acme/sa/web",
      "DNS:acme.web.mesh.local",
    ]);
  });

  it("makes SHA-256 certificates with CA and leaf extensions as specified", () => {
    const ca = openssl("x509", "-noout", "-text", "-in", file("acme", "ca.crt"));
    expect(ca).toContain("Signature Algorithm: sha256WithRSAEncryption");
    expect(ca).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(ca).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(ca).toContain("Public-Key: (2048 bit)");
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(ca)?.[1];

    const leaf = openssl("x509", "-noout", "-text", "-in", file("acme", "web.crt"));
    expect(leaf).toContain("Signature Algorithm: sha256WithRSAEncryption");
    expect(leaf).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(leaf).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(leaf).toMatch(
      /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(ski).toBeDefined();
    expect(leaf).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${ski}`));
  });

  it("uses random positive serials and a notBefore in the past", async () => {
    const certs = await Promise.all(
      ["web", "orders"].map(
        async (s) => readPemBundle(await readFile(file("acme", `${s}.crt`), "utf8"))[0],
      ),
    );
    const [a, b] = certs as [X509Certificate, X509Certificate];
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(new Date(a.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(a.validTo).getTime() - new Date(a.validFrom).getTime()).toBe(30 * 86_400_000);
  });

  it("pairs each key with its certificate and resolves to the right identity", async () => {
    const [certPem, keyPem, caPem] = await Promise.all(
      ["orders.crt", "orders.key", "ca.crt"].map((n) => readFile(file("globex", n), "utf8")),
    );
    const leaf = new X509Certificate(certPem as string);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(keyMatchesCert(keyPem as string, leaf)).toBe(true);
    const tenants = new Map([
      ["globex", { roots: readPemBundle(caPem as string), revoked: false }],
    ]);
    expect(
      resolvePeerIdentity({ chain: [leaf], trustDomain: "mesh.local", tenants, now: new Date() }),
    ).toEqual({
      ok: true,
      tenant: "globex",
      service: "orders",
      spiffeId: "spiffe://mesh.local/tenant/globex/sa/orders",
    });
  });

  it("keeps an existing CA on a second run and issues new leaves under it", async () => {
    const before = await readFile(file("acme", "ca.crt"), "utf8");
    const again = await initDevPki({
      out,
      trustDomain: "mesh.local",
      tenants: ["acme"],
      services: ["billing"],
    });
    expect(again.tenants[0]?.caReused).toBe(true);
    expect(await readFile(file("acme", "ca.crt"), "utf8")).toBe(before);
    expect(
      openssl("verify", "-CAfile", file("acme", "ca.crt"), file("acme", "billing.crt")),
    ).toContain(": OK");
  });

  it.each([
    [{ trustDomain: "Mesh.Local" }, /trust domain/],
    [{ tenants: ["Acme"] }, /tenant id/],
    [{ tenants: ["../etc"] }, /tenant id/],
    [{ services: ["web/x"] }, /service name/],
    [{ services: ["ca"] }, /reserved/],
    [{ services: ["web", "web"] }, /duplicate service/],
    [{ tenants: [] }, /at least one/],
    [{ days: Number("x") }, /days/],
    [{ days: 0 }, /days/],
  ])("refuses bad options %j", async (override, message) => {
    const opts = {
      out,
      trustDomain: "mesh.local",
      tenants: ["acme"],
      services: ["web"],
      ...override,
    };
    await expect(initDevPki(opts)).rejects.toThrow(message);
  });
});
