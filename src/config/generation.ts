/**
 * A config generation: the validated config compiled into everything the request path
 * reads — secure contexts, trust per tenant, compiled route rules and grants. Built whole
 * and validated before it replaces the running one in one step; immutable afterwards.
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { LoadedConfig } from "./load.js";
import type { Config, RouteCacheConfig } from "./schema.js";
import { compileTargetRule, type TargetRule } from "../tenancy/target.js";
import { foldedName } from "../http/field-name.js";
import { compileGrants, type GrantTable } from "../tenancy/grants.js";
import { loadTenantMaterial, type TenantMaterial } from "../tls/tenant-material.js";

export interface TenantRuntime extends TenantMaterial {
  id: string;
  revoked: boolean;
  cache: Config["tenants"][string]["cache"];
}

export interface UpstreamRuntime {
  name: string;
  /** `https://host:port` */
  origin: string;
  /** Path prefix from the upstream URL, without a trailing slash ("" for none). */
  basePath: string;
  /** Host header sent upstream. */
  authority: string;
  tls: boolean;
  /** Expected service in the upstream's SPIFFE id. */
  service: string;
  sni(tenant: string): string;
  target: TargetRule;
  cache: RouteCacheConfig;
}

export interface Generation {
  readonly id: number;
  readonly loaded: LoadedConfig;
  readonly config: Config;
  /** Every configured tenant, revoked ones included (they must be recognised to be refused). */
  readonly tenants: ReadonlyMap<string, TenantRuntime>;
  /** Tenants allowed to talk right now. */
  readonly active: ReadonlySet<string>;
  /** SNI server name → tenant, for the inbound listener. */
  readonly serverNames: ReadonlyMap<string, string>;
  /** Credentials for clients that send no SNI: request any active tenant's client certificate. */
  readonly defaultCredentials: DefaultCredentials | undefined;
  /** `inbound.app`'s origin: the inbound side's cache key space is keyed by it. */
  readonly appOrigin: string;
  readonly inboundTarget: TargetRule;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly grants: GrantTable;
  readonly stripHeaders: ReadonlySet<string>;
  /** Routing headers the inbound path forwards to the app (all others are stripped). */
  readonly allowHeaders: ReadonlySet<string>;
  readonly loadedAt: Date;
  /** The config file and every certificate, key and CA file it names (absolute). */
  readonly files: readonly string[];
  /**
   * Hash of everything the generation was built from: the config text and the bytes of
   * every tenant file. Equal digests mean a reload would change nothing, even when a
   * Secret rotation swapped certificate files under an unchanged config.
   */
  readonly digest: string;
}

export async function buildGeneration(
  loaded: LoadedConfig,
  id: number,
  now = new Date(),
): Promise<Generation> {
  const { config, baseDir } = loaded;
  const tenants = new Map<string, TenantRuntime>();
  await Promise.all(
    Object.entries(config.tenants).map(async ([tenant, tenantConfig]) => {
      const material = await loadTenantMaterial({
        tenant,
        config: tenantConfig,
        baseDir,
        trustDomain: config.trustDomain,
        service: config.service,
        now,
      });
      tenants.set(tenant, {
        ...material,
        id: tenant,
        revoked: tenantConfig.revoked,
        cache: tenantConfig.cache,
      });
    }),
  );
  const active = new Set([...tenants.values()].filter((t) => !t.revoked).map((t) => t.id));
  const serverNames = new Map<string, string>();
  for (const tenant of tenants.keys()) {
    serverNames.set(expandName(config.inbound.sni, tenant, config), tenant);
  }
  return {
    id,
    loaded,
    config,
    tenants,
    active,
    serverNames,
    defaultCredentials: defaultCredentials(tenants, active),
    appOrigin: new URL(config.inbound.app).origin,
    inboundTarget: compileTargetRule(config.inbound.target),
    upstreams: compileUpstreams(config),
    grants: compileGrants(config.grants, { tenants: active }),
    stripHeaders: new Set(config.inbound.stripHeaders.map(foldedName)),
    allowHeaders: new Set(config.inbound.allowHeaders),
    loadedAt: now,
    files: referencedFiles(loaded),
    digest: sourceDigest(loaded, tenants),
  };
}

/** Every file a config reads: itself and each tenant's CA, certificate and key. */
export function referencedFiles(loaded: LoadedConfig): string[] {
  const files = new Set([loaded.file]);
  for (const tenant of Object.values(loaded.config.tenants)) {
    for (const key of ["ca", "cert", "key"] as const)
      files.add(resolve(loaded.baseDir, tenant[key]));
  }
  return [...files];
}

function sourceDigest(loaded: LoadedConfig, tenants: ReadonlyMap<string, TenantRuntime>): string {
  const hash = createHash("sha256").update(loaded.text);
  for (const id of [...tenants.keys()].sort()) {
    const t = tenants.get(id) as TenantRuntime;
    for (const part of [id, t.caPem, t.certPem, t.keyPem]) hash.update("\0").update(part);
  }
  return hash.digest("hex");
}

/** What a reload changed about tenants' trust and credentials, for logs and cleanup. */
export interface TenantChanges {
  added: string[];
  /** No longer configured. */
  removed: string[];
  /** Configured but revoked now, and active before. */
  revoked: string[];
  reinstated: string[];
  /** Trusted under a different CA bundle: connections proved by the old one are cut. */
  caChanged: string[];
  /** Same tenant, new certificate or key for this sidecar (served on new handshakes). */
  rotated: string[];
}

export function tenantChanges(previous: Generation, next: Generation): TenantChanges {
  const changes: TenantChanges = {
    added: [],
    removed: [],
    revoked: [],
    reinstated: [],
    caChanged: [],
    rotated: [],
  };
  for (const id of previous.tenants.keys()) if (!next.tenants.has(id)) changes.removed.push(id);
  for (const [id, t] of next.tenants) {
    const old = previous.tenants.get(id);
    if (!old) {
      changes.added.push(id);
      continue;
    }
    if (previous.active.has(id) && !next.active.has(id)) changes.revoked.push(id);
    if (!previous.active.has(id) && next.active.has(id)) changes.reinstated.push(id);
    if (old.caPem !== t.caPem) changes.caChanged.push(id);
    if (old.certPem !== t.certPem || old.keyPem !== t.keyPem) changes.rotated.push(id);
  }
  return changes;
}

function expandName(
  pattern: string,
  tenant: string,
  config: Config,
  service = config.service,
): string {
  return pattern
    .replaceAll("{tenant}", tenant)
    .replaceAll("{service}", service)
    .replaceAll("{trustDomain}", config.trustDomain);
}

function compileUpstreams(config: Config): Map<string, UpstreamRuntime> {
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const [name, upstream] of Object.entries(config.outbound.upstreams)) {
    const url = new URL(upstream.url);
    const service = upstream.service ?? name;
    const sniPattern = upstream.sni ?? "{tenant}.{service}.{trustDomain}";
    upstreams.set(name, {
      name,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ""),
      authority: url.host,
      tls: url.protocol === "https:",
      service,
      sni: (tenant) => expandName(sniPattern, tenant, config, service),
      target: compileTargetRule(upstream.target),
      cache: upstream.cache,
    });
  }
  return upstreams;
}

export interface DefaultCredentials {
  cert: string;
  key: string;
  ca: string[];
}

/**
 * Clients that send no SNI get the first active tenant's certificate and a request for a
 * client certificate from any tenant's CA. That list only shapes the handshake: the tenant
 * is decided afterwards from the client's SAN and that tenant's CA alone.
 */
function defaultCredentials(
  tenants: Map<string, TenantRuntime>,
  active: Set<string>,
): DefaultCredentials | undefined {
  const first = [...active].sort()[0];
  if (first === undefined) return undefined;
  const material = tenants.get(first) as TenantRuntime;
  const ca = [...active].map((t) => (tenants.get(t) as TenantRuntime).caPem);
  return { cert: material.certPem, key: material.keyPem, ca };
}
