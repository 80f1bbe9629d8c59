import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forgeCert, hugeExponentKey, rsaKey } from "../../test/support/forged-chain.js";
import { hasAcceptableKey, presentedChainProblem } from "./presented-chain.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "palisade-keys-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate with a key made by `openssl req -newkey <newkey…>`. */
function selfSigned(name: string, newkey: string[]): X509Certificate {
  const crt = join(dir, `${name}.crt`);
  execFileSync(
    "openssl",
    ["req", "-x509", ...newkey, "-nodes", "-keyout", join(dir, `${name}.key`), "-out", crt],
    { stdio: "pipe", input: "" },
  );
  return new X509Certificate(readFileSync(crt));
}
const subj = ["-subj", "/CN=k", "-days", "1"];

describe("hasAcceptableKey", () => {
  it.each([
    ["RSA-2048, e=65537", ["-newkey", "rsa:2048"], true],
    ["EC P-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], true],
    ["EC P-384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], true],
    ["Ed25519", ["-newkey", "ed25519"], true],
    ["EC P-521", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"], false],
    ["EC secp256k1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"], false],
  ])("%s: %s", (name, newkey, acceptable) => {
    const cert = selfSigned(name.replace(/\W/g, ""), [...newkey, ...subj]);
    expect(hasAcceptableKey(cert)).toBe(acceptable);
  });

  it("huge-exponent-chain-freezes-event-loop: an RSA exponent as long as the modulus", () => {
    const huge = hugeExponentKey(1024);
    const cert = forgeCert({ subject: "X", issuer: "X", key: huge, signer: huge, ca: true });
    expect(hasAcceptableKey(new X509Certificate(cert))).toBe(false);
  });
});

describe("presentedChainProblem", () => {
  it("refuses repeated intermediates and more than eight", () => {
    const key = rsaKey();
    const make = (subject: string) =>
      new X509Certificate(forgeCert({ subject, issuer: "root", key, signer: key, ca: true }));
    const leaf = make("leaf");
    const ints = Array.from({ length: 9 }, (_, i) => make(`int ${i}`));
    expect(presentedChainProblem([leaf, ...ints.slice(0, 8)])).toBeUndefined();
    expect(presentedChainProblem([leaf, ...ints])).toBe("bad_chain");
    // Same name and key, another serial: the same intermediate for path building.
    expect(presentedChainProblem([leaf, make("int 0"), make("int 0")])).toBe("bad_chain");
  });
});
