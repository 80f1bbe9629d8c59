/**
 * Grants compiled for the request path (DESIGN.md "The two paths", step 4). Built once per
 * config generation; a lookup is two Map hits and a short scan of that pair's grants.
 * Default deny: no grant, an inactive grant, an unlisted method or an unmatched path all
 * answer undefined.
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
export class GrantTable {
  readonly #byPair: ReadonlyMap<string, ReadonlyMap<string, readonly Entry[]>>;
  /** Every compiled grant, in config order. */
  readonly grants: readonly CompiledGrant[];
  /** Grants left out of this table and why, for `palisade check` and reload logs. */
  readonly omitted: readonly OmittedGrant[];

  constructor(entries: readonly Entry[], omitted: readonly OmittedGrant[]) {
    const byPair = new Map<string, Map<string, Entry[]>>();
    for (const entry of entries) {
      const { from, to } = entry.grant;
      let byTarget = byPair.get(from);
      if (!byTarget) byPair.set(from, (byTarget = new Map()));
      const list = byTarget.get(to);
      if (list) list.push(entry);
      else byTarget.set(to, [entry]);
    }
    this.#byPair = byPair;
    this.grants = entries.map((e) => e.grant);
    this.omitted = omitted;
  }

  /**
   * The first active grant, in config order, that allows this request. When several
   * match, config order decides which one's projection applies.
   */
  match(request: GrantRequest): CompiledGrant | undefined {
    const entries = this.#byPair.get(request.from)?.get(request.to);
    if (!entries) return undefined;
    for (const entry of entries) {
      if (!(request.now < entry.grant.expires)) continue;
      if (!entry.methods.has(request.method)) continue;
      if (entry.paths.some((glob) => glob.matches(request.segments))) return entry.grant;
    }
    return undefined;
  }

  /** Grants in which `tenant` is the caller or the target. */
  forTenant(tenant: string): CompiledGrant[] {
    return this.grants.filter((g) => g.from === tenant || g.to === tenant);
  }
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
    const entry = compileEntry(config, id, index);
    const { tenants } = options;
    if (!config.enabled) omitted.push({ id, reason: "disabled", config });
    else if (tenants && !(tenants.has(config.from) && tenants.has(config.to))) {
      omitted.push({ id, reason: "inactive_tenant", config });
    } else entries.push(entry);
  });
  return new GrantTable(entries, omitted);
}

function compileEntry(config: GrantConfig, id: string, index: number): Entry {
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
    fields = config.fields === undefined ? undefined : compileProjection(config.fields);
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
    config,
  };
  return { grant, methods, paths };
}
