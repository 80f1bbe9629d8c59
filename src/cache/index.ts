/** The tenant-partitioned HTTP response cache: what the proxy and admin server use. */
export {
  TenantHttpCache,
  type CacheOutcome,
  type CacheRequest,
  type CacheResult,
  type CacheRoute,
} from "./http-cache.js";
export {
  PartitionedCache,
  type CacheHooks,
  type GlobalCacheLimits,
  type SetResult,
  type TenantCacheLimits,
} from "./partitioned.js";
export { CACHE_HEADER } from "./stored-response.js";
