/**
 * A development PKI (`palisade certs init`, the demo, tests): one self-signed CA per
 * tenant and one SVID per (tenant, service). Keys come from `node:crypto` (native and
 * fast); node-forge only builds the certificates, and `node:crypto` signs them, always
 * with SHA-256 (forge's RSA in JavaScript took ~35 ms a certificate, native takes ~1).
 *
 * `createCa` and `issueLeaf` are also the tests' certificate mint: validity, SANs, the
 * cA flag and even the signing key can be overridden to make the bad certificates that
 * isolation tests need (expired, foreign CA, several SANs, CA as leaf, forged issuer).
 * forge signs with RSA only, so an issuing CA must have an RSA key (EC CAs: use openssl).
 */
import {
  constants,
  createPrivateKey,
  generateKeyPair,
  privateEncrypt,
  randomBytes,
  type KeyObject,
} from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import forge from "node-forge";
import { isTenantId } from "../tenancy/tenant-id.js";
import { formatWorkloadId, isServiceName, isTrustDomain } from "../tenancy/spiffe.js";

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 86_400_000;
/** Backdating absorbs clock skew between the machine that mints and the ones that verify. */
const BACKDATE_MS = 5 * 60_000;

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

interface CommonOptions {
  /** Default: 5 minutes ago. */
  notBefore?: Date;
  /** Default: `notBefore` + `days`. */
  notAfter?: Date;
  days?: number;
  /** Reuse a PKCS#8 or PKCS#1 RSA key instead of generating one (fast tests). */
  keyPem?: string;
  /** Default: a random positive 128-bit serial. */
  serialHex?: string;
}

export interface CaOptions extends CommonOptions {
  commonName: string;
  organization?: string;
  /** Makes an intermediate signed by this CA; default self-signed. */
  issuer?: CertAndKey;
  pathLen?: number;
}

export interface LeafOptions extends CommonOptions {
  commonName?: string;
  /** URI SANs; an SVID has exactly one. */
  uris?: readonly string[];
  dnsNames?: readonly string[];
  /** basicConstraints cA=TRUE (with keyCertSign): the "CA used as a leaf" attack. */
  ca?: boolean;
  /** Sign with this key while naming `ca` as issuer: a forged certificate. */
  signingKeyPem?: string;
}

export async function createCa(opts: CaOptions): Promise<CertAndKey> {
  const keyPem = opts.keyPem ?? (await newRsaKey());
  const key = forge.pki.privateKeyFromPem(keyPem);
  const subject = [
    { name: "commonName", value: opts.commonName },
    { name: "organizationName", value: opts.organization ?? "Palisade development" },
  ];
  const cert = baseCertificate(key, subject, opts, 3650);
  const issuer = opts.issuer ? forge.pki.certificateFromPem(opts.issuer.certPem) : cert;
  cert.setIssuer(issuer.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true, ...pathLen(opts.pathLen) },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
    ...(opts.issuer ? [authorityKeyId(issuer)] : []),
  ]);
  cert.sign(nativeSigner(opts.issuer?.keyPem ?? keyPem), forge.md.sha256.create());
  return { certPem: toPem(cert), keyPem };
}

export async function issueLeaf(ca: CertAndKey, opts: LeafOptions = {}): Promise<CertAndKey> {
  const keyPem = opts.keyPem ?? (await newRsaKey());
  const key = forge.pki.privateKeyFromPem(keyPem);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const subject = [{ name: "commonName", value: opts.commonName ?? "palisade-workload" }];
  const cert = baseCertificate(key, subject, opts, 365);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(opts.uris ?? []).map((value) => ({ type: 6, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
  ];
  cert.setExtensions([
    { name: "basicConstraints", cA: opts.ca === true, critical: true },
    opts.ca
      ? { name: "keyUsage", digitalSignature: true, keyCertSign: true, critical: true }
      : { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectKeyIdentifier" },
    authorityKeyId(caCert),
    ...(altNames.length > 0 ? [{ name: "subjectAltName", altNames }] : []),
  ]);
  cert.sign(nativeSigner(opts.signingKeyPem ?? ca.keyPem), forge.md.sha256.create());
  return { certPem: toPem(cert), keyPem };
}

/** An SVID: exactly one URI SAN, `spiffe://<td>/tenant/<tenant>/sa/<service>` (plus any DNS names asked for). */
export function issueSvid(
  ca: CertAndKey,
  id: { trustDomain: string; tenant: string; service: string },
  opts: Omit<LeafOptions, "uris"> = {},
): Promise<CertAndKey> {
  const uri = formatWorkloadId(id.trustDomain, id.tenant, id.service);
  return issueLeaf(ca, { commonName: id.service, ...opts, uris: [uri] });
}

/** forge writes CRLF; everything else (openssl, Kubernetes secrets) uses LF. */
function toPem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, "\n");
}

/** The last signing key read: a CA signs many leaves in a row, and parsing a key is not free. */
let lastKey: { pem: string; key: KeyObject } | undefined;

function signingKey(pem: string): KeyObject {
  if (lastKey?.pem !== pem) lastKey = { pem, key: createPrivateKey(pem) };
  return lastKey.key;
}

/** DER of the DigestInfo header for SHA-256 (RFC 8017 §9.2 note 1); the digest follows. */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

/**
 * What forge's `cert.sign` calls: `sign(md)` with the TBS certificate already hashed.
 * RSASSA-PKCS1-v1_5 is the DigestInfo padded with block type 1 and raised to the private
 * exponent, which is exactly `privateEncrypt` with PKCS#1 padding, done natively.
 */
function nativeSigner(keyPem: string): forge.pki.rsa.PrivateKey {
  const key = signingKey(keyPem);
  if (key.asymmetricKeyType !== "rsa") throw new Error("forge signs with RSA keys only");
  const signer = {
    sign: (md: forge.md.MessageDigest) => {
      const digest = Buffer.from(md.digest().getBytes(), "binary");
      const signature = privateEncrypt(
        { key, padding: constants.RSA_PKCS1_PADDING },
        Buffer.concat([SHA256_DIGEST_INFO, digest]),
      );
      return signature.toString("binary");
    },
  };
  // forge reads nothing else of the key it signs with.
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

export async function newRsaKey(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync("rsa", { modulusLength: 2048 });
  return privateKey.export({ type: "pkcs8", format: "pem" }) as string;
}

function baseCertificate(
  key: forge.pki.rsa.PrivateKey,
  subject: forge.pki.CertificateField[],
  opts: CommonOptions,
  defaultDays: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = opts.serialHex ?? randomSerial();
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter =
    opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? defaultDays) * DAY_MS);
  cert.setSubject(subject);
  return cert;
}

/** 16 random bytes, first byte 0x01–0x7f: positive and minimally encoded in DER. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) % 0x7f) + 1;
  return bytes.toString("hex");
}

function pathLen(value: number | undefined): { pathLenConstraint?: number } {
  return value === undefined ? {} : { pathLenConstraint: value };
}

/** The issuer's own SKI when it has one (a CA made elsewhere may compute it differently). */
function authorityKeyId(issuer: forge.pki.Certificate): { name: string; keyIdentifier: string } {
  const ski = issuer.getExtension("subjectKeyIdentifier") as
    { subjectKeyIdentifier?: string } | undefined;
  const keyIdentifier = ski?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : issuer.generateSubjectKeyIdentifier().getBytes();
  return { name: "authorityKeyIdentifier", keyIdentifier };
}

export interface DevPkiOptions {
  out: string;
  trustDomain: string;
  tenants: readonly string[];
  services: readonly string[];
  /** Leaf validity; CAs get ten years or this, whichever is longer. Default 365. */
  days?: number;
}

export interface DevPkiResult {
  out: string;
  trustDomain: string;
  tenants: Array<{
    tenant: string;
    caCert: string;
    caKey: string;
    /** An existing CA (ca.crt + ca.key) is kept, so re-running only adds or renews leaves. */
    caReused: boolean;
    leaves: Array<{ service: string; spiffeId: string; cert: string; key: string }>;
  }>;
  /** Every file written, absolute. */
  files: string[];
}

/** Writes `out/<tenant>/ca.{crt,key}` and `out/<tenant>/<service>.{crt,key}`; keys mode 0600. */
export async function initDevPki(opts: DevPkiOptions): Promise<DevPkiResult> {
  validate(opts);
  const days = opts.days ?? 365;
  const out = resolve(opts.out);
  const tenants = await Promise.all(
    opts.tenants.map(async (tenant) => {
      const dir = join(out, tenant);
      await mkdir(dir, { recursive: true });
      const caCert = join(dir, "ca.crt");
      const caKey = join(dir, "ca.key");
      let ca = await readExisting(caCert, caKey);
      const caReused = ca !== undefined;
      if (!ca) {
        ca = await createCa({
          commonName: `Palisade dev CA ${tenant}`,
          days: Math.max(days, 3650),
        });
        await writeCertAndKey(ca, caCert, caKey);
      }
      const issuer = ca;
      const leaves = await Promise.all(
        opts.services.map(async (service) => {
          const id = { trustDomain: opts.trustDomain, tenant, service };
          // A DNS SAN beside the one URI SAN (SPIFFE allows it) lets curl and browsers check
          // the server name in the demo; Palisade itself matches names and ids on its own.
          const leaf = await issueSvid(issuer, id, {
            days,
            dnsNames: [`${tenant}.${service}.${opts.trustDomain}`],
          });
          const paths = { cert: join(dir, `${service}.crt`), key: join(dir, `${service}.key`) };
          await writeCertAndKey(leaf, paths.cert, paths.key);
          return {
            service,
            spiffeId: formatWorkloadId(opts.trustDomain, tenant, service),
            ...paths,
          };
        }),
      );
      return { tenant, caCert, caKey, caReused, leaves };
    }),
  );
  const files = tenants.flatMap((t) => [
    ...(t.caReused ? [] : [t.caCert, t.caKey]),
    ...t.leaves.flatMap((l) => [l.cert, l.key]),
  ]);
  return { out, trustDomain: opts.trustDomain, tenants, files };
}

function validate(opts: DevPkiOptions): void {
  if (!isTrustDomain(opts.trustDomain)) throw new Error(`not a trust domain: ${opts.trustDomain}`);
  const days = opts.days ?? 365;
  if (!Number.isInteger(days) || days <= 0)
    throw new Error(`days must be a positive integer: ${days}`);
  if (opts.tenants.length === 0 || opts.services.length === 0) {
    throw new Error("need at least one tenant and one service");
  }
  for (const t of opts.tenants) if (!isTenantId(t)) throw new Error(`not a tenant id: ${t}`);
  for (const s of opts.services) if (!isServiceName(s)) throw new Error(`not a service name: ${s}`);
  // "ca" would overwrite the CA's own files.
  if (opts.services.includes("ca")) throw new Error('"ca" is reserved for the tenant CA');
  if (new Set(opts.tenants).size !== opts.tenants.length) throw new Error("duplicate tenant");
  if (new Set(opts.services).size !== opts.services.length) throw new Error("duplicate service");
}

async function readExisting(certPath: string, keyPath: string): Promise<CertAndKey | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([
      readFile(certPath, "utf8"),
      readFile(keyPath, "utf8"),
    ]);
    return { certPem, keyPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function writeCertAndKey(pair: CertAndKey, certPath: string, keyPath: string): Promise<void> {
  await writeFile(keyPath, pair.keyPem, { mode: 0o600 });
  // `mode` only applies when the file is created; an existing key file keeps its mode.
  await chmod(keyPath, 0o600);
  await writeFile(certPath, pair.certPem, { mode: 0o644 });
}
