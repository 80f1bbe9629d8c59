/**
 * Keep-alive connection pools per (upstream, tenant): each pool presents that tenant's
 * client certificate with that tenant's SNI, trusts only that tenant's CA, and accepts
 * the upstream only if its SVID names that tenant and the expected service. Pools survive
 * reloads while their material is unchanged; replaced pools drain their in-flight requests.
 */
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { Pool, type Dispatcher } from "undici";
import type { Generation, TenantRuntime, UpstreamRuntime } from "../config/generation.js";
import { checkSvid } from "../tls/verify-chain.js";
import { TLS_OPTIONS } from "../tls/tenant-material.js";

interface Entry {
  fingerprint: string;
  pool: Pool;
}

export class UpstreamPools {
  readonly #pools = new Map<string, Entry>();

  constructor(private readonly options: { keepAliveTimeout: number; connections: number }) {}

  get(generation: Generation, upstream: UpstreamRuntime, tenant: string): Dispatcher {
    const key = `${upstream.name}\0${tenant}`;
    const material = generation.tenants.get(tenant) as TenantRuntime;
    const fingerprint = `${generation.config.trustDomain}|${upstream.origin}|${upstream.sni(tenant)}|${upstream.service}|${material.leaf.fingerprint256}|${material.caPem}`;
    const entry = this.#pools.get(key);
    if (entry?.fingerprint === fingerprint) return entry.pool;
    if (entry) void entry.pool.close().catch(() => {});
    const pool = this.#create(generation.config.trustDomain, upstream, tenant, material);
    this.#pools.set(key, { fingerprint, pool });
    return pool;
  }

  /** Drops pools for upstreams or tenants that the new generation no longer has. */
  prune(generation: Generation): void {
    for (const [key, entry] of this.#pools) {
      const [upstream, tenant] = key.split("\0") as [string, string];
      if (!generation.upstreams.has(upstream) || !generation.active.has(tenant)) {
        this.#pools.delete(key);
        void entry.pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()].map((e) => e.pool.close().catch(() => {}));
    this.#pools.clear();
    await Promise.all(pools);
  }

  #create(trustDomain: string, upstream: UpstreamRuntime, tenant: string, material: TenantRuntime): Pool {
    const tls = upstream.tls
      ? {
          ...TLS_OPTIONS,
          cert: material.certPem,
          key: material.keyPem,
          ca: material.caPem,
          servername: upstream.sni(tenant),
          rejectUnauthorized: true,
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            checkUpstreamSvid(cert, trustDomain, tenant, upstream.service),
        }
      : {};
    return new Pool(upstream.origin, {
      connections: this.options.connections,
      keepAliveTimeout: this.options.keepAliveTimeout,
      connect: tls,
    });
  }
}

/** The upstream must be the expected service of the same tenant, in our trust domain. */
function checkUpstreamSvid(cert: PeerCertificate, trustDomain: string, tenant: string, service: string): Error | undefined {
  if (!cert.raw) return new Error("upstream presented no certificate");
  const svid = checkSvid(new X509Certificate(cert.raw), trustDomain);
  if (!svid.ok) return new Error(`upstream certificate is not a valid SVID (${svid.reason})`);
  if (svid.tenant !== tenant || svid.service !== service) {
    return new Error(`upstream is ${svid.spiffeId}, expected tenant ${tenant} service ${service}`);
  }
  return undefined;
}
