/**
 * Certificates made the way ordinary PKIs make them (openssl, EC P-256), to prove
 * Palisade is not tied to its own dev PKI.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** Writes `<dir>/ca.crt|key` (EC P-256 CA) and one leaf per service with a single URI SAN. */
export function opensslEcTenant(
  dir: string,
  trustDomain: string,
  tenant: string,
  services: string[],
): void {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      "30",
      "-subj",
      `/CN=${tenant} CA`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  for (const service of services) {
    const ext = join(dir, `${service}.ext`);
    writeFileSync(
      ext,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth,clientAuth",
        `subjectAltName=URI:spiffe://${trustDomain}/tenant/${tenant}/sa/${service}`,
      ].join("\n"),
    );
    openssl(
      ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${service}.ec.key`],
      dir,
    );
    openssl(
      ["pkcs8", "-topk8", "-nocrypt", "-in", `${service}.ec.key`, "-out", `${service}.key`],
      dir,
    );
    openssl(
      [
        "req",
        "-new",
        "-key",
        `${service}.key`,
        "-subj",
        `/CN=${service}`,
        "-out",
        `${service}.csr`,
      ],
      dir,
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        `${service}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        ext,
        "-out",
        `${service}.crt`,
      ],
      dir,
    );
  }
}
