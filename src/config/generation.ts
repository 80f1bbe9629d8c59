/**
 * A config generation: the validated config compiled into everything the request path
 * reads — secure contexts, trust per tenant, compiled route rules and grants. Built whole
 * and validated before it replaces the running one in one step; immutable afterwards.
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { LoadedConfig } from "./load.js";
import { REGION_PATTERN, type Config } from "./schema.js";
import { compileTargetRule, type TargetRule } from "../tenancy/target.js";
import { compileUpstreams, expandName, type UpstreamRuntime } from "./upstreams.js";
import { foldedName } from "../http/field-name.js";
import { compileGrants, type GrantTable } from "../tenancy/grants.js";
import {
  loadTenantMaterial,
  type InspectedTenant,
  type TenantMaterial,
} from "../tls/tenant-material.js";
import { localRegion } from "../tenancy/residency.js";
import { readRegularFileBytes } from "./regular-file.js";
import { mapBounded, TENANT_READ_CONCURRENCY } from "./bounded.js";

/** A generation that cannot be built from a config that validated; names the key path. */
export class GenerationError extends Error {
  constructor(
    readonly keyPath: string,
    message: string,
  ) {
    super(`${keyPath}: ${message}`);
    this.name = "GenerationError";
  }
}

export type { EndpointRuntime, UpstreamRuntime } from "./upstreams.js";

export interface TenantRuntime extends TenantMaterial {
  id: string;
  revoked: boolean;
  cache: Config["tenants"][string]["cache"];
  /** Residency: where this tenant's calls and data stay; undefined is unrestricted. */
  regions: readonly string[] | undefined;
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
  /** This sidecar's region (`region`, else PALISADE_REGION); undefined when neither is set. */
  readonly region: string | undefined;
  /** Raw bytes of `projection.hashKeyFile`, the key of `hash` masks. */
  readonly hashKey: Buffer | undefined;
  readonly stripHeaders: ReadonlySet<string>;
  /** Routing headers the inbound path forwards to the app (all others are stripped). */
  readonly allowHeaders: ReadonlySet<string>;
  readonly loadedAt: Date;
  /** The config file and every certificate, key, CA and hash key file it names (absolute). */
  readonly files: readonly string[];
  /**
   * Hash of everything the generation was built from: the config text, the bytes of
   * every tenant file and the hash key. Equal digests mean a reload would change nothing, even when a
   * Secret rotation swapped certificate files under an unchanged config.
   */
  readonly digest: string;
}

export async function buildGeneration(
  loaded: LoadedConfig,
  id: number,
  now = new Date(),
  env: Readonly<Record<string, string | undefined>> = process.env,
  /** Tenants' files already read and inspected by lint; others are read here. */
  inspected?: ReadonlyMap<string, InspectedTenant>,
): Promise<Generation> {
  const { config, baseDir } = loaded;
  const local = localRegion(config, env, (name) => REGION_PATTERN.test(name));
  if (local.problem !== undefined) throw new GenerationError("region", local.problem);
  const hashKey = await readHashKey(loaded);
  const tenants = new Map<string, TenantRuntime>();
  await mapBounded(
    Object.entries(config.tenants),
    TENANT_READ_CONCURRENCY,
    async ([tenant, tenantConfig]) => {
      const material = await loadTenantMaterial({
        tenant,
        config: tenantConfig,
        baseDir,
        trustDomain: config.trustDomain,
        service: config.service,
        now,
        inspected: inspected?.get(tenant),
      });
      tenants.set(tenant, {
        ...material,
        id: tenant,
        revoked: tenantConfig.revoked,
        cache: tenantConfig.cache,
        regions: tenantConfig.regions,
      });
    },
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
    defaultCredentials: defaultCredentials(tenants, active, DEFAULT_CA_HINTS),
    appOrigin: new URL(config.inbound.app).origin,
    inboundTarget: compileTargetRule(config.inbound.target),
    upstreams: compileUpstreams(config),
    grants: compileGrants(config.grants, { tenants: active, hashKey }),
    region: local.region,
    hashKey,
    stripHeaders: new Set(config.inbound.stripHeaders.map(foldedName)),
    allowHeaders: new Set(config.inbound.allowHeaders),
    loadedAt: now,
    files: referencedFiles(loaded),
    digest: sourceDigest(loaded, tenants, hashKey),
  };
}

/** The hash mask key, read whole like a certificate; an empty key file is refused. */
async function readHashKey(loaded: LoadedConfig): Promise<Buffer | undefined> {
  const file = loaded.config.projection.hashKeyFile;
  if (file === undefined) return undefined;
  let key: Buffer;
  try {
    key = await readRegularFileBytes(resolve(loaded.baseDir, file));
  } catch (err) {
    throw new GenerationError(
      "projection.hashKeyFile",
      `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  // An empty HMAC key makes every hash computable by anyone who guesses the value.
  if (key.length < 16)
    throw new GenerationError("projection.hashKeyFile", `${file} holds fewer than 16 bytes`);
  return key;
}

/** Every file a config reads: itself, each tenant's CA, certificate and key, the hash key. */
export function referencedFiles(loaded: LoadedConfig): string[] {
  const files = new Set([loaded.file]);
  for (const tenant of Object.values(loaded.config.tenants)) {
    for (const key of ["ca", "cert", "key"] as const)
      files.add(resolve(loaded.baseDir, tenant[key]));
  }
  const hashKeyFile = loaded.config.projection.hashKeyFile;
  if (hashKeyFile !== undefined) files.add(resolve(loaded.baseDir, hashKeyFile));
  return [...files];
}

function sourceDigest(
  loaded: LoadedConfig,
  tenants: ReadonlyMap<string, TenantRuntime>,
  hashKey: Buffer | undefined,
): string {
  const hash = createHash("sha256").update(loaded.text);
  for (const id of [...tenants.keys()].sort()) {
    const t = tenants.get(id) as TenantRuntime;
    for (const part of [id, t.caPem, t.certPem, t.keyPem]) hash.update("\0").update(part);
  }
  // A rotated hash key must rebuild the generation, even under an unchanged config.
  if (hashKey) hash.update("\0hashKey\0").update(hashKey);
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

export interface DefaultCredentials {
  cert: string;
  key: string;
  ca: string[];
}

/**
 * Tenants whose CAs the no-SNI handshake names. OpenSSL builds a context's trust store in
 * quadratic time (160 ms for 1000 CAs, 4.9 s for 8000), and this context is built at start
 * and again on every reload, on the event loop.
 */
export const DEFAULT_CA_HINTS = 100;

/**
 * Clients that send no SNI get the first active tenant's certificate and a request for a
 * client certificate naming the CAs of the first `DEFAULT_CA_HINTS` active tenants. That
 * list only shapes the handshake (a client may pick its certificate by it): the tenant is
 * decided afterwards from the client's SAN and that tenant's CA alone, whichever tenant it
 * is. A mesh client sends SNI and never reaches this context.
 */
export function defaultCredentials(
  tenants: Map<string, TenantRuntime>,
  active: Set<string>,
  hints = DEFAULT_CA_HINTS,
): DefaultCredentials | undefined {
  const sorted = [...active].sort();
  const first = sorted[0];
  if (first === undefined) return undefined;
  const material = tenants.get(first) as TenantRuntime;
  const ca = sorted.slice(0, hints).map((t) => (tenants.get(t) as TenantRuntime).caPem);
  return { cert: material.certPem, key: material.keyPem, ca };
}
