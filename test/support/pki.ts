/**
 * Test PKIs. Minting one costs about a second of CPU (RSA keys), and nearly every
 * integration file wants the same one, so the run's global setup mints a superset once
 * (`SHARED_TENANTS` × `SHARED_SERVICES`) and `makePki` copies the requested part into a
 * fresh directory: each file still owns its files (tests write CAs, chains and configs
 * beside them, and remove the directory). Outside vitest (`npm run fuzz`), or for a
 * second, unrelated CA (`fresh`), it mints as before.
 */
import { copyFile, mkdir, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initDevPki } from "../../src/tls/dev-pki.js";

export const TRUST_DOMAIN = "mesh.local";
/** Names the shared PKI's directory; set by test/support/global-setup.ts. */
export const SHARED_PKI_ENV = "PALISADE_TEST_SHARED_PKI";
export const SHARED_TENANTS: readonly string[] = ["acme", "globex", "initech", "umbrella"];
export const SHARED_SERVICES: readonly string[] = ["orders", "web", "cli", "billing"];

export interface Pki {
  dir: string;
  /** PEM text of a tenant's CA, and of the (tenant, service) certificate and key. */
  ca(tenant: string): Promise<string>;
  cert(tenant: string, service: string): Promise<string>;
  key(tenant: string, service: string): Promise<string>;
}

export interface PkiOptions {
  /** Mint new CAs: a PKI no other one in the run trusts (a stranger's). */
  fresh?: boolean;
}

/** `tenants`' CAs and an SVID per (tenant, service), in a new temp dir the caller removes. */
export async function makePki(
  tenants: string[],
  services: string[],
  options: PkiOptions = {},
): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), "palisade-pki-"));
  const shared = options.fresh ? undefined : process.env[SHARED_PKI_ENV];
  if (shared !== undefined && covers(tenants, services)) {
    await copyPart(shared, dir, tenants, services);
  } else {
    await mintPki(dir, tenants, services);
  }
  return pkiAt(dir);
}

/** The layout `palisade certs init` writes, valid for 30 days. */
export async function mintPki(
  dir: string,
  tenants: readonly string[],
  services: readonly string[],
): Promise<void> {
  await initDevPki({ out: dir, trustDomain: TRUST_DOMAIN, tenants, services, days: 30 });
}

function covers(tenants: string[], services: string[]): boolean {
  return (
    tenants.every((t) => SHARED_TENANTS.includes(t)) &&
    services.every((s) => SHARED_SERVICES.includes(s))
  );
}

/** copyFile keeps the source's mode, so keys stay 0600 as `certs init` wrote them. */
async function copyPart(from: string, to: string, tenants: string[], services: string[]) {
  const names = ["ca", ...services].flatMap((n) => [`${n}.crt`, `${n}.key`]);
  await Promise.all(
    tenants.map(async (tenant) => {
      await mkdir(join(to, tenant));
      await Promise.all(names.map((n) => copyFile(join(from, tenant, n), join(to, tenant, n))));
    }),
  );
}

function pkiAt(dir: string): Pki {
  return {
    dir,
    ca: (tenant) => readFile(join(dir, tenant, "ca.crt"), "utf8"),
    cert: (tenant, service) => readFile(join(dir, tenant, `${service}.crt`), "utf8"),
    key: (tenant, service) => readFile(join(dir, tenant, `${service}.key`), "utf8"),
  };
}
