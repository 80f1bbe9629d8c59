/**
 * Certificates made the way ordinary PKIs make them (openssl, EC P-256), to prove
 * Palisade is not tied to its own dev PKI.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
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

/** A key and certificate on disk, as absolute paths, with their PEM text. */
export interface OpensslCert {
  crt: string;
  key: string;
  certPem: string;
  keyPem: string;
}

export interface OpensslCertOptions {
  subject: string;
  /** Signs the certificate; self-signed without. */
  issuer?: Pick<OpensslCert, "crt" | "key">;
  /** openssl `-extfile` lines, e.g. `nameConstraints=critical,permitted;URI:mesh.local`. */
  extensions: string[];
  /** Negative: already expired (notAfter before notBefore). Default 30. */
  days?: number;
  /** An existing key file to certify (e.g. another CA's key under a new name); default new. */
  key?: string;
}

/**
 * Writes `<dir>/<name>.crt|key` (EC P-256): a root, an intermediate or a leaf, with exactly
 * the extensions given, so a test can build the chains real PKIs (and attackers) make.
 */
export function opensslCert(dir: string, name: string, opts: OpensslCertOptions): OpensslCert {
  const key = opts.key ?? join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  const csr = join(dir, `${name}.csr`);
  writeFileSync(ext, opts.extensions.join("\n") + "\n");
  if (opts.key === undefined)
    openssl(
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
      dir,
    );
  openssl(["req", "-new", "-key", key, "-subj", opts.subject, "-out", csr], dir);
  const signer = opts.issuer
    ? ["-CA", opts.issuer.crt, "-CAkey", opts.issuer.key]
    : ["-signkey", key];
  openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      ...signer,
      "-set_serial",
      `0x${randomBytes(8).toString("hex")}`,
      "-days",
      String(opts.days ?? 30),
      "-sha256",
      "-extfile",
      ext,
      "-out",
      crt,
    ],
    dir,
  );
  return { crt, key, certPem: readFileSync(crt, "utf8"), keyPem: readFileSync(key, "utf8") };
}

/** `basicConstraints` and `keyUsage` of a CA, then `extra` lines. */
export function caExtensions(extra: string[] = [], pathLen?: number): string[] {
  return [
    `basicConstraints=critical,CA:TRUE${pathLen === undefined ? "" : `,pathlen:${pathLen}`}`,
    "keyUsage=critical,keyCertSign,cRLSign",
    ...extra,
  ];
}

/** An X.509 SVID leaf's extensions for `uri`, then `extra` lines. */
export function svidExtensions(uri: string, extra: string[] = []): string[] {
  return [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth,clientAuth",
    `subjectAltName=URI:${uri}`,
    ...extra,
  ];
}

/**
 * `subject`'s name and key certified again by `issuer` (a cross-certificate): a path from
 * `subject`'s issuance up to `issuer`'s CA.
 */
export function opensslCrossSign(
  dir: string,
  name: string,
  subject: Pick<OpensslCert, "crt" | "key">,
  issuer: Pick<OpensslCert, "crt" | "key">,
): OpensslCert {
  // The subject's distinguished name, as `openssl req -subj` writes it.
  const dn = new X509Certificate(readFileSync(subject.crt)).subject.split("\n").join("/");
  return opensslCert(dir, name, {
    subject: `/${dn}`,
    issuer,
    key: subject.key,
    extensions: caExtensions(),
  });
}
