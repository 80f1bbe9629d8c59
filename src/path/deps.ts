/**
 * What the request path is given. Everything is passed in; nothing is a module-level
 * singleton, so tests and the demo can run several sidecars in one process.
 */
import type { Dispatcher } from "undici";
import type { H2Pool } from "../http/h2-pool.js";
import type { EndpointRuntime, Generation, UpstreamRuntime } from "../config/generation.js";
import type { ContextTokens } from "../tenancy/context-token.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Logs } from "../telemetry/logs.js";
import type { SuspiciousEvent } from "../anomaly/alert.js";
import type { Tracing } from "../telemetry/tracing.js";
import type { TenantHttpCache } from "../cache/index.js";
import type { RequestFeed } from "../live/feed.js";
import type { TenantConcurrency, TenantRateLimiter } from "./rate-limit.js";
import type { ProjectionBudget } from "../inbound/projection-budget.js";

export interface ProxyDeps {
  /** The current config generation; read once at the start of each request. */
  generation(): Generation;
  metrics: Metrics;
  logs: Logs;
  tokens: ContextTokens;
  anomaly: { record(event: SuspiciousEvent): void };
  /** The live view's request feed (admin `/events`, `/top`, the page). */
  feed: RequestFeed;
  /** Tenant-partitioned response cache, kept across generations. */
  cache: TenantHttpCache;
  /** Per-tenant token buckets, one per listener. */
  rateLimits: { inbound: TenantRateLimiter; outbound: TenantRateLimiter };
  /** Per-tenant requests in flight, one per listener. */
  concurrency: { inbound: TenantConcurrency; outbound: TenantConcurrency };
  /** Bytes held for projecting grants, bounded across the process and kept across generations. */
  projectionBudget: ProjectionBudget;
  /** Connection pool to the local app. */
  app: Dispatcher;
  /** The same over h2c (HTTP/2 by prior knowledge), for `inbound.appProtocol: h2c`. */
  appH2c: H2Pool;
  /** mTLS pool for calls to one endpoint of `upstream` as `tenant`, built from `generation`. */
  upstreamPool(
    generation: Generation,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
  ): Dispatcher;
  /** The same endpoint and tenant over HTTP/2, for calls the app made over HTTP/2 (gRPC). */
  upstreamH2(
    generation: Generation,
    upstream: UpstreamRuntime,
    endpoint: EndpointRuntime,
    tenant: string,
  ): H2Pool;
  /** Undefined when no exporter is configured: the request path then skips tracing. */
  tracing: Tracing | undefined;
  now(): number;
}
