/**
 * Grants compiled for the request path (DESIGN.md "The two paths", step 4). Built once per
 * config generation; a lookup is two Map hits and a short scan of that pair's grants.
 * Default deny: no grant, an inactive grant, an unlisted method or an unmatched path all
 * answer undefined. Audit-mode grants (`mode: audit`) are kept apart: `match` never sees
 * them, `matchAudit` reports which one would have allowed a request.
 */
import type { GrantConfig } from "../config/schema.js";
import { compilePathGlob, PathGlobError, type PathGlob } from "./path-glob.js";
import { compileProjection, ProjectionError, type Projection } from "./projection.js";

export interface CompiledGrant {
  /** The configured id, else `${from}->${to}#${index}` (index in the config's list). */
  readonly id: string;
  readonly from: string;
  readonly to: string;
  /** The projection responses must pass through, or undefined for whole responses. */
  readonly fields: Projection | undefined;
  /** Expiry, milliseconds since the epoch; active while `now < expires`. */
  readonly expires: number;
  /** `audit`: evaluated and recorded, never allows anything. */
  readonly mode: "enforce" | "audit";
  /** Regions the owner's data may also be served in under this grant (tenancy/residency.ts). */
  readonly regions: readonly string[] | undefined;
  readonly config: GrantConfig;
}

export interface GrantRequest {
  from: string;
  to: string;
  method: string;
  /** Canonical path segments (request-path.ts). */
  segments: readonly string[];
  now: number;
}

export interface OmittedGrant {
  readonly id: string;
  readonly reason: "disabled" | "inactive_tenant";
  readonly config: GrantConfig;
}

export interface CompileGrantsOptions {
  /** Tenants allowed to talk (configured, not revoked). Grants naming any other are omitted. */
  tenants?: ReadonlySet<string>;
  /** Key for `hash` masks in projections (`projection.hashKeyFile`'s bytes). */
  hashKey?: Buffer | undefined;
}

/** A grant that cannot be compiled; `keyPath` names it like config errors do. */
export class GrantConfigError extends Error {
  constructor(
    readonly keyPath: string,
    message: string,
  ) {
    super(`${keyPath}: ${message}`);
    this.name = "GrantConfigError";
  }
}

interface Entry {
  readonly grant: CompiledGrant;
  readonly methods: ReadonlySet<string>;
  readonly paths: readonly PathGlob[];
}

/** Built by compileGrants for one config generation; immutable afterwards. */
type PairIndex = ReadonlyMap<string, ReadonlyMap<string, readonly Entry[]>>;

export class GrantTable {
  readonly #byPair: PairIndex;
  readonly #auditByPair: PairIndex;
  /** Every compiled grant, audit-mode ones included, in config order. */
  readonly grants: readonly CompiledGrant[];
  /** Grants left out of this table and why, for `palisade check` and reload logs. */
  readonly omitted: readonly OmittedGrant[];

  constructor(entries: readonly Entry[], omitted: readonly OmittedGrant[]) {
    this.#byPair = indexByPair(entries.filter((e) => e.grant.mode === "enforce"));
    this.#auditByPair = indexByPair(entries.filter((e) => e.grant.mode === "audit"));
    this.grants = entries.map((e) => e.grant);
    this.omitted = omitted;
  }

  /**
   * The first active enforce-mode grant, in config order, that allows this request. When
   * several match, config order decides which one's projection applies.
   */
  match(request: GrantRequest): CompiledGrant | undefined {
    return firstMatch(this.#byPair, request);
  }

  /** The first active audit-mode grant that would allow this request, were it enforced. */
  matchAudit(request: GrantRequest): CompiledGrant | undefined {
    return firstMatch(this.#auditByPair, request);
  }

  /** Grants in which `tenant` is the caller or the target. */
  forTenant(tenant: string): CompiledGrant[] {
    return this.grants.filter((g) => g.from === tenant || g.to === tenant);
  }
}

function indexByPair(entries: readonly Entry[]): PairIndex {
  const byPair = new Map<string, Map<string, Entry[]>>();
  for (const entry of entries) {
    const { from, to } = entry.grant;
    let byTarget = byPair.get(from);
    if (!byTarget) byPair.set(from, (byTarget = new Map<string, Entry[]>()));
    const list = byTarget.get(to);
    if (list) list.push(entry);
    else byTarget.set(to, [entry]);
  }
  return byPair;
}

function firstMatch(index: PairIndex, request: GrantRequest): CompiledGrant | undefined {
  const entries = index.get(request.from)?.get(request.to);
  if (!entries) return undefined;
  for (const entry of entries) {
    if (!(request.now < entry.grant.expires)) continue;
    if (!entry.methods.has(request.method)) continue;
    if (entry.paths.some((glob) => glob.matches(request.segments))) return entry.grant;
  }
  return undefined;
}

export function compileGrants(
  grants: readonly GrantConfig[],
  options: CompileGrantsOptions = {},
): GrantTable {
  const entries: Entry[] = [];
  const omitted: OmittedGrant[] = [];
  const ids = new Set<string>();
  grants.forEach((config, index) => {
    const id = config.id ?? `${config.from}->${config.to}#${index}`;
    // Audit records name grants by id, so two grants must never share one.
    if (ids.has(id))
      throw new GrantConfigError(`grants.${index}.id`, `duplicate grant id ${JSON.stringify(id)}`);
    ids.add(id);
    // Compiled even when omitted, so a bad grant is an error whatever the tenant set.
    const entry = compileEntry(config, id, index, options.hashKey);
    const { tenants } = options;
    if (!config.enabled) omitted.push({ id, reason: "disabled", config });
    else if (tenants && !(tenants.has(config.from) && tenants.has(config.to))) {
      omitted.push({ id, reason: "inactive_tenant", config });
    } else entries.push(entry);
  });
  return new GrantTable(entries, omitted);
}

function compileEntry(
  config: GrantConfig,
  id: string,
  index: number,
  hashKey: Buffer | undefined,
): Entry {
  const methods = new Set<string>(config.methods);
  // HEAD is GET without the body: a grant to read is a grant to ask about.
  if (methods.has("GET")) methods.add("HEAD");
  const paths = config.paths.map((glob, i) => {
    try {
      return compilePathGlob(glob);
    } catch (error) {
      if (error instanceof PathGlobError)
        throw new GrantConfigError(`grants.${index}.paths.${i}`, error.message);
      throw error;
    }
  });
  let fields: Projection | undefined;
  try {
    fields =
      config.fields === undefined ? undefined : compileProjection(config.fields, { hashKey });
  } catch (error) {
    if (error instanceof ProjectionError)
      throw new GrantConfigError(`grants.${index}.fields`, error.message);
    throw error;
  }
  const grant: CompiledGrant = {
    id,
    from: config.from,
    to: config.to,
    fields,
    expires: config.expires.getTime(),
    mode: config.mode,
    regions: config.regions,
    config,
  };
  return { grant, methods, paths };
}
