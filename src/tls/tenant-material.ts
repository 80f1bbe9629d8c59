/**
 * Loads one tenant's certificates and keys from disk and proves, before the generation
 * goes live, that they are usable: the first error finding of the inspector `palisade check`
 * runs (`inspect-tenant.ts`: key, SVID, every certificate, the chain to the tenant's own CA)
 * refuses them. A mistake here fails the reload, never a request.
 */
import { createSecureContext, type SecureContext } from "node:tls";
import { constants, type KeyObject, type X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import type { TenantConfig } from "../config/schema.js";
import { readPemBundle, readPrivateKey } from "./certs.js";
import { forgetView, inspect } from "./inspect.js";
import { inspectTenant } from "./inspect-tenant.js";
import { checkSvid } from "./verify-chain.js";
import { readRegularFile } from "../config/regular-file.js";

/**
 * No session tickets: resumption would skip the handshake in which a peer's trust is
 * decided, and trust can be withdrawn by a reload. Every connection is verified anew.
 */
export const TLS_OPTIONS = {
  minVersion: "TLSv1.2",
  secureOptions: constants.SSL_OP_NO_TICKET,
} as const;

export interface TenantMaterial {
  caPem: string;
  roots: X509Certificate[];
  certPem: string;
  keyPem: string;
  /**
   * The served chain (leaf first, then the cert file's intermediates) as the expiry checks
   * read it. Its certificates are not kept parsed: nothing per request reads them, and a
   * parsed certificate costs several KiB of native memory per tenant.
   */
  served: readonly CertSummary[];
  spiffeId: string;
  /** When the served chain stops working: the earliest expiry of the leaf and its intermediates. */
  expiresAt: Date;
  /** Inbound server context for this tenant: its SVID, trusting only its own CA. */
  serverContext(): SecureContext;
}

export interface CertSummary {
  subject: string;
  notAfter: Date;
}

/**
 * One tenant's files as lint read them, parsed, and judged by the same inspector with no
 * error finding: the loader keeps them as they are instead of reading and parsing again.
 */
export interface InspectedTenant {
  caPem: string;
  certPem: string;
  keyPem: string;
  roots: X509Certificate[];
  chain: X509Certificate[];
}

export class TenantMaterialError extends Error {
  constructor(
    readonly keyPath: string,
    message: string,
  ) {
    super(`${keyPath}: ${message}`);
  }
}

/** Where a tenant's files are and what they are judged against. */
interface TenantSource {
  tenant: string;
  config: TenantConfig;
  baseDir: string;
  trustDomain: string;
  service: string;
  now: Date;
}

export async function loadTenantMaterial(
  opts: TenantSource & {
    /** Already read and inspected (config/admit.ts): kept, not read and parsed again. */
    inspected?: InspectedTenant | undefined;
  },
): Promise<TenantMaterial> {
  const files = opts.inspected ?? (await readAndInspect(opts));
  const { roots, chain, caPem, certPem, keyPem } = files;
  const leaf = chain[0] as X509Certificate;
  const svid = checkSvid(leaf, opts.trustDomain);
  if (!svid.ok) {
    const at = `tenants.${opts.tenant}.cert`;
    throw new TenantMaterialError(at, `not a valid SVID (${svid.reason})`);
  }
  // Built on the tenant's first handshake, not here: with a thousand tenants, contexts made
  // up front dominate startup. The key and certificate were already parsed and matched
  // by the inspector, so OpenSSL accepts them; a failure would show as that tenant's
  // handshakes failing.
  let serverContext: SecureContext | undefined;
  const served = chain.map((c) => ({ subject: c.subject, notAfter: inspect(c).notAfter }));
  for (const cert of chain) forgetView(cert);
  return {
    caPem,
    roots,
    certPem,
    keyPem,
    served,
    spiffeId: svid.spiffeId,
    expiresAt: new Date(Math.min(...served.map((c) => c.notAfter.getTime()))),
    serverContext: () =>
      (serverContext ??= createSecureContext({
        ...TLS_OPTIONS,
        cert: certPem,
        key: keyPem,
        ca: caPem,
      })),
  };
}

/** Reads and parses the tenant's files; the inspector's first error finding refuses them. */
async function readAndInspect(opts: TenantSource): Promise<InspectedTenant> {
  const { tenant, config, baseDir } = opts;
  const at = (key: string) => `tenants.${tenant}.${key}`;
  const [caPem, certPem, keyPem] = await Promise.all(
    (["ca", "cert", "key"] as const).map((key) =>
      readRegularFile(resolve(baseDir, config[key])).catch((err: unknown) => {
        const message = (err as Error).message;
        throw new TenantMaterialError(at(key), `cannot read ${config[key]}: ${message}`);
      }),
    ),
  );
  const roots = parseBundle(caPem as string, at("ca"));
  const chain = parseBundle(certPem as string, at("cert"));
  const key = parseKey(keyPem as string, at("key"));
  const { trustDomain, service, now } = opts;
  const findings = inspectTenant(
    { tenant, roots, chain, key },
    { trustDomain, service, now, files: config },
  );
  const refusal = findings.find((f) => f.level === "error");
  if (refusal) throw new TenantMaterialError(refusal.path, refusal.message);
  return {
    caPem: caPem as string,
    certPem: certPem as string,
    keyPem: keyPem as string,
    roots,
    chain,
  };
}

function parseBundle(pem: string, keyPath: string): X509Certificate[] {
  let certs: X509Certificate[];
  try {
    certs = readPemBundle(pem);
  } catch (err) {
    throw new TenantMaterialError(keyPath, (err as Error).message);
  }
  if (certs.length === 0) throw new TenantMaterialError(keyPath, "no certificate found");
  return certs;
}

function parseKey(pem: string, keyPath: string): KeyObject {
  try {
    return readPrivateKey(pem);
  } catch (err) {
    throw new TenantMaterialError(keyPath, (err as Error).message);
  }
}
