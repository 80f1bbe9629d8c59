/**
 * The cache as the proxy sees it: one call per request on a caching route. It answers from
 * the tenant's partition, or calls the proxy's `fetch()` and tees the streaming body into
 * the partition. Concurrent misses for one URL of one tenant share a single `fetch()`, and
 * only ever by reading what that fetch stored (never its live response).
 */
import type { IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { captureBody } from "./capture-body.js";
import {
  originForm,
  originUrl,
  primaryKey,
  sameOriginKey,
  variantKey,
  type KeyScope,
} from "./cache-key.js";
import { parseCacheControl } from "./cache-control.js";
import {
  requestPolicy,
  responsePolicy,
  sharedDespiteAuthorization,
  type RequestPolicy,
} from "./cacheability.js";
import { Flights } from "./flights.js";
import { hitResponse } from "./hit-response.js";
import type { HeaderRecord, UpstreamResponse } from "../http/message.js";
import type { PartitionedCache } from "./partitioned.js";
import {
  CACHE_HEADER,
  currentAgeMs,
  matchesPrefix,
  storableHeaders,
  type PurgeNames,
} from "./stored-response.js";

export interface CacheRequest {
  /** The partition: the tenant the response is delivered to (the verified caller). */
  tenant: string;
  /** As received; methods are case-sensitive. */
  method: string;
  /** Request-target: origin-form (`/path?query`) or absolute-form. */
  url: string;
  /**
   * The key space (see KeyScope): the direction and the origin's name, so that the inbound
   * side and each upstream never answer for one another. Never from the request.
   */
  space: string;
  /** Origin and base path the request is sent to (see KeyScope); part of the key. */
  base: string;
  /**
   * The target tenant the route rule read (when it read one); part of the key. Pass it
   * always: with a header target rule it is the only thing telling a granted cross-tenant
   * `/reports` apart from the caller's own `/reports`.
   */
  targetTenant?: string;
  /** Request headers after reserved-header stripping (lower-case names). */
  headers: IncomingHttpHeaders;
}

export interface CacheRoute {
  /** Heuristic freshness (ms) for responses without explicit freshness; 0: explicit only. */
  defaultTtl: number;
}

export type CacheOutcome = "hit" | "miss" | "bypass";

export interface CacheResult {
  /** Status, headers (with `x-palisade-cache`) and body to send to the client. */
  response: UpstreamResponse;
  outcome: CacheOutcome;
}

type Lookup = Extract<RequestPolicy, { kind: "lookup" }>;

/**
 * How often a waiter may re-check after a stored leader response that did not match its
 * variant (different `Vary` values) before it fetches on its own.
 */
const MAX_WAIT_ROUNDS = 3;

export class TenantHttpCache {
  readonly #cache: PartitionedCache;
  readonly #flights = new Flights();

  constructor(cache: PartitionedCache) {
    this.#cache = cache;
  }

  /** Serves `req` for its tenant from the cache or through `fetch()` (the upstream call). */
  async serve(
    req: CacheRequest,
    route: CacheRoute,
    fetch: () => Promise<UpstreamResponse>,
  ): Promise<CacheResult> {
    const target = originForm(req.url);
    if (target === undefined || !this.#cache.has(req.tenant))
      return labelled(await fetch(), "bypass");
    const scope: KeyScope = { space: req.space, base: req.base, targetTenant: req.targetTenant };
    const primary = primaryKey(scope, target);
    const policy = requestPolicy(req.method, req.headers);
    if (policy.kind === "bypass") {
      if (!policy.invalidate) return labelled(await fetch(), "bypass");
      return this.#unsafe(req, scope, target, primary, fetch);
    }
    let mayWait = policy.kind === "lookup";
    for (let round = 0; round < MAX_WAIT_ROUNDS; round++) {
      const hit = policy.kind === "lookup" ? this.#lookup(req, primary, policy) : undefined;
      if (hit) return { response: hit, outcome: "hit" };
      const leader = mayWait ? this.#flights.leader(req.tenant, primary) : undefined;
      if (!leader) break;
      // Only a stored response is shared. When the leader's was not stored, every waiter
      // asks upstream itself, at once rather than queueing behind one another.
      if (!(await leader)) mayWait = false;
    }
    if (policy.kind === "lookup" && policy.onlyIfCached) return onlyIfCachedMiss();
    const names = { target, url: originUrl(scope, target) };
    return this.#fill(req, route, names, primary, fetch, mayWait);
  }

  /** Removes `tenant`'s entries (see PartitionedCache.purge) and stops in-flight fills. */
  purge(tenant: string, prefix?: string): number {
    this.#flights.doomWhere(tenant, (fill) => matchesPrefix(fill, prefix));
    return this.#cache.purge(tenant, prefix);
  }

  #lookup(req: CacheRequest, primary: string, policy: Lookup): UpstreamResponse | undefined {
    const now = this.#cache.now();
    const credentialed = req.headers.authorization !== undefined;
    for (const names of this.#cache.variants(req.tenant, primary)) {
      const entry = this.#cache.get(req.tenant, variantKey(primary, names, req.headers));
      if (!entry) continue;
      if (
        credentialed &&
        !sharedDespiteAuthorization(parseCacheControl(entry.headers["cache-control"]))
      )
        continue;
      // The request's own limits (RFC 9111 §5.2.1): too old or too close to expiry is a miss.
      const ageSeconds = Math.floor(currentAgeMs(entry, now) / 1000);
      if (policy.maxAgeSeconds !== undefined && ageSeconds > policy.maxAgeSeconds) continue;
      if (entry.expiresAt - now < policy.minFreshSeconds * 1000) continue;
      return hitResponse(entry, req.method, req.headers, now);
    }
    return undefined;
  }

  async #fill(
    req: CacheRequest,
    route: CacheRoute,
    names: PurgeNames,
    primary: string,
    fetch: () => Promise<UpstreamResponse>,
    lead: boolean,
  ): Promise<CacheResult> {
    // Only a GET can be stored, so only a GET is worth waiting for.
    const fill = this.#flights.begin(req.tenant, primary, names, lead && req.method === "GET");
    let upstream: UpstreamResponse;
    try {
      upstream = await fetch();
    } catch (err) {
      fill.settle(false);
      throw err;
    }
    const responseTime = this.#cache.now();
    const decision = responsePolicy(
      req.method,
      req.headers,
      upstream,
      route.defaultTtl,
      responseTime,
    );
    if (!decision.store || fill.doomed) {
      fill.settle(false);
      return labelled(upstream, "miss");
    }
    const { statusCode } = upstream;
    const headers = storableHeaders(upstream.headers);
    const key = variantKey(primary, decision.varyNames, req.headers);
    const expectedLength = contentLength(upstream.headers);
    const body = captureBody(upstream.body, this.#cache.objectLimit(req.tenant), {
      complete: (bytes) => {
        // A short body without a stream error (a lenient upstream client) is still truncated.
        if (fill.doomed || (expectedLength !== undefined && expectedLength !== bytes.length)) {
          fill.settle(false);
          return;
        }
        const entry = {
          primary,
          ...names,
          varyNames: decision.varyNames,
          statusCode,
          headers,
          body: bytes,
          responseTime,
          initialAgeMs: decision.initialAgeMs,
          expiresAt: responseTime + decision.lifetimeMs - decision.initialAgeMs,
        };
        fill.settle(this.#cache.set(req.tenant, key, entry) === "stored");
      },
      abandon: () => fill.settle(false),
    });
    return labelled({ statusCode, headers: upstream.headers, body }, "miss");
  }

  /** RFC 9111 §4.4: an unsafe method invalidates the URL, before and after it runs. */
  async #unsafe(
    req: CacheRequest,
    scope: KeyScope,
    target: string,
    primary: string,
    fetch: () => Promise<UpstreamResponse>,
  ): Promise<CacheResult> {
    this.#invalidate(req.tenant, primary);
    const upstream = await fetch();
    this.#invalidate(req.tenant, primary);
    if (upstream.statusCode < 400) {
      for (const name of ["location", "content-location"]) {
        const value = upstream.headers[name];
        const reference = typeof value === "string" ? value : value?.[0];
        const key = reference && sameOriginKey(scope, target, reference);
        if (key) this.#invalidate(req.tenant, key);
      }
    }
    return labelled(upstream, "bypass");
  }

  #invalidate(tenant: string, primary: string): void {
    this.#flights.doom(tenant, primary);
    this.#cache.deleteUrl(tenant, primary);
  }
}

function labelled(response: UpstreamResponse, outcome: CacheOutcome): CacheResult {
  const headers: HeaderRecord = { ...response.headers, [CACHE_HEADER]: outcome };
  return { response: { statusCode: response.statusCode, headers, body: response.body }, outcome };
}

/** RFC 9111 §5.2.1.7: `only-if-cached` with nothing usable stored is answered 504. */
function onlyIfCachedMiss(): CacheResult {
  const headers = { "content-length": "0", [CACHE_HEADER]: "miss" };
  return {
    response: { statusCode: 504, headers, body: Readable.from([], { objectMode: false }) },
    outcome: "miss",
  };
}

function contentLength(headers: HeaderRecord): number | undefined {
  const value = headers["content-length"];
  return typeof value === "string" && /^\d+$/.test(value) ? Number(value) : undefined;
}
