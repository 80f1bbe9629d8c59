/**
 * Keep-alive connection pools per (upstream, endpoint, tenant): each pool presents that
 * tenant's client certificate with that tenant's SNI, trusts only that tenant's CA, and
 * accepts the upstream only if its SVID names that tenant and the expected service. Pools
 * survive reloads while their material is unchanged; replaced pools drain their in-flight
 * requests. Their connect errors are marked (connect-failure.ts): the failover needs them.
 */
import { createSecureContext, type PeerCertificate } from "node:tls";
import type { SecureClientSessionOptions } from "node:http2";
import { Pool, type Dispatcher } from "undici";
import { H2Pool } from "../http/h2-pool.js";
import type {
  EndpointRuntime,
  Generation,
  TenantRuntime,
  UpstreamRuntime,
} from "../config/generation.js";
import { chainOf } from "../tls/peer-chain.js";
import { checkSvid, verifyTenantChain } from "../tls/verify-chain.js";
import { TLS_OPTIONS } from "../tls/tenant-material.js";
import { ProxyError } from "../path/errors.js";
import { markConnectFailure, markingConnector } from "./connect-failure.js";

interface Entry {
  fingerprint: string;
  /** The generation the fingerprint was last compared under: same one, same pool. */
  generationId: number;
  pool: Pool;
  /** HTTP/2 sessions with the same credentials, made on the first HTTP/2 call. */
  h2: H2Pool | undefined;
  connect: ConnectOptions;
}

/** What both undici's pool and Node's HTTP/2 client accept: credentials, SNI, checks. */
type ConnectOptions = Pick<
  SecureClientSessionOptions,
  "secureContext" | "servername" | "rejectUnauthorized" | "checkServerIdentity"
>;

export class UpstreamPools {
  readonly #pools = new Map<string, Entry>();
  /** The newest generation seen: pools are only ever built from it. */
  #latest: Generation | undefined;

  constructor(private readonly options: { keepAliveTimeout: number; connections: number }) {}

  get(
    generation: Generation,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
  ): Dispatcher {
    return this.#entry(generation, upstream, endpoint, tenant).pool;
  }

  /**
   * The HTTP/2 side of the same (upstream, endpoint, tenant) pool: the same certificate, SNI
   * and checks of the peer; replaced and closed with it.
   */
  getH2(
    generation: Generation,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
  ): H2Pool {
    const entry = this.#entry(generation, upstream, endpoint, tenant);
    return (entry.h2 ??= new H2Pool(entry.connect));
  }

  #entry(
    generation: Generation,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
  ): Entry {
    const key = `${upstream.name}\0${tenant}\0${endpoint.origin}`;
    const entry = this.#pools.get(key);
    if (entry?.generationId === generation.id) return entry;
    const latest = this.#latest;
    if (latest && generation.id < latest.id)
      return this.#fromLatest(latest, upstream.name, endpoint.origin, tenant);
    this.#latest = generation;
    const fingerprint = poolFingerprint(generation, upstream, endpoint, tenant);
    if (entry?.fingerprint === fingerprint) {
      entry.generationId = generation.id;
      return entry;
    }
    if (entry) closeEntry(entry);
    const material = generation.tenants.get(tenant) as TenantRuntime;
    const connect = this.#connectOptions(
      generation.config.trustDomain,
      upstream,
      endpoint,
      tenant,
      material,
    );
    const pool = new Pool(endpoint.origin, {
      connections: this.options.connections,
      keepAliveTimeout: this.options.keepAliveTimeout,
      connect: markingConnector(connect),
    });
    const created: Entry = {
      fingerprint,
      generationId: generation.id,
      pool,
      h2: undefined,
      connect,
    };
    this.#pools.set(key, created);
    return created;
  }

  /**
   * After a reload: drops pools for upstreams or tenants the new generation no longer has,
   * and pools built from credentials or trust it has replaced (rotation, CA change), so no
   * keep-alive connection outlives the material that proved it. Closing lets in-flight
   * requests finish.
   */
  prune(generation: Generation): void {
    this.#latest = generation;
    for (const [key, entry] of this.#pools) {
      const [name, tenant, origin] = key.split("\0") as [string, string, string];
      const upstream = generation.upstreams.get(name);
      const endpoint = upstream?.endpoints.find((e) => e.origin === origin);
      const current =
        upstream !== undefined &&
        endpoint !== undefined &&
        generation.active.has(tenant) &&
        poolFingerprint(generation, upstream, endpoint, tenant) === entry.fingerprint;
      if (current) {
        entry.generationId = generation.id;
      } else {
        this.#pools.delete(key);
        closeEntry(entry);
      }
    }
  }

  /**
   * A request that began before a reload: it is served with what is current now, never by
   * rebuilding a pool from superseded (perhaps withdrawn) credentials.
   */
  #fromLatest(latest: Generation, name: string, origin: string, tenant: string): Entry {
    const upstream = latest.upstreams.get(name);
    if (!upstream) throw new ProxyError("unknown_upstream");
    if (!latest.active.has(tenant)) throw new ProxyError("tenant_revoked");
    const endpoint = upstream.endpoints.find((e) => e.origin === origin);
    // The endpoint is gone from the config: nothing was sent, so the next one may be tried.
    if (!endpoint) throw markConnectFailure(new ProxyError("upstream_unavailable"));
    return this.#entry(latest, upstream, endpoint, tenant);
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()].map((e) => e.pool.close().catch(() => {}));
    for (const entry of this.#pools.values()) void entry.h2?.close();
    this.#pools.clear();
    await Promise.all(pools);
  }

  /**
   * The end of drain: requests still in flight are aborted, not waited for (`close()` would
   * wait up to `outbound.timeouts.upstream` for an upstream that does not answer).
   */
  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()].map((e) => e.pool.destroy().catch(() => {}));
    for (const entry of this.#pools.values()) void entry.h2?.destroy();
    this.#pools.clear();
    await Promise.all(pools);
  }

  #connectOptions(
    trustDomain: string,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
    material: TenantRuntime,
  ): ConnectOptions {
    const tls = endpoint.tls
      ? {
          // One context per pool: given only cert/key/ca, tls.connect would build (and
          // parse the key for) a new context on every new connection.
          secureContext: createSecureContext({
            ...TLS_OPTIONS,
            cert: material.certPem,
            key: material.keyPem,
            ca: material.caPem,
          }),
          servername: upstream.sni(tenant),
          rejectUnauthorized: true,
          // Node passes the detailed certificate, issuer links included.
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            checkUpstreamSvid(cert, trustDomain, tenant, upstream.service, material),
        }
      : {};
    return tls;
  }
}

/** In-flight requests finish; nothing new is sent on either protocol. */
function closeEntry(entry: Entry): void {
  void entry.pool.close().catch(() => {});
  void entry.h2?.close();
}

/** Everything a pool's connections were made with; a pool is reused only while it is equal. */
function poolFingerprint(
  generation: Generation,
  upstream: UpstreamRuntime,
  endpoint: EndpointRuntime,
  tenant: string,
): string {
  const material = generation.tenants.get(tenant) as TenantRuntime;
  return [
    generation.config.trustDomain,
    endpoint.origin,
    String(endpoint.tls),
    upstream.sni(tenant),
    upstream.service,
    material.certPem,
    material.caPem,
  ].join("|");
}

/**
 * The upstream must be the expected service of the same tenant, in our trust domain, and
 * its chain must pass the same checks as an inbound peer's (OpenSSL has already verified it
 * against this tenant's CA alone; name constraints, pathLen, critical extensions, the
 * chain's shape and keys are Palisade's own rules, applied on both sides alike), with a
 * leaf allowed to serve TLS (extended key usage `serverAuth` when present).
 */
function checkUpstreamSvid(
  cert: PeerCertificate,
  trustDomain: string,
  tenant: string,
  service: string,
  material: TenantRuntime,
): Error | undefined {
  const [leaf, ...intermediates] = chainOf(cert);
  if (!leaf) return new Error("upstream presented no certificate");
  const svid = checkSvid(leaf, trustDomain);
  if (!svid.ok) return new Error(`upstream certificate is not a valid SVID (${svid.reason})`);
  if (svid.tenant !== tenant || svid.service !== service) {
    return new Error(`upstream is ${svid.spiffeId}, expected tenant ${tenant} service ${service}`);
  }
  const verified = verifyTenantChain({
    leaf,
    intermediates,
    roots: material.roots,
    now: new Date(),
    purpose: "server",
  });
  if (!verified.ok) return new Error(`upstream chain refused (${verified.reason})`);
  return undefined;
}
