/**
 * One request's record (Envoy's StreamInfo): plain data that the stages write as they go,
 * and nothing reads until the response has completed. Then the consumers
 * (telemetry/report.ts) turn it into the request metrics, the span's attributes, the access
 * line, the audit lines and the anomaly events (DESIGN.md step 6). Stages never log.
 */
import type { CacheResult, Direction, PolicyAuditResult } from "../telemetry/metrics.js";
import type { ErrorCode } from "./errors.js";

export type Decision = "allow" | "grant" | "deny";

/** A refusal as the record keeps it (a ProxyError is one). */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  /** False for refusals an honest client can cause: no anomaly event. */
  readonly suspicious: boolean;
  /** `rate_limited`: the configured limit that was hit (`tenants.acme.rateLimit`, …). */
  readonly limit?: string | undefined;
}

/** An audit-mode grant that matched: reported beside the decision, never changing it. */
export interface PolicyAudit {
  readonly grantId: string;
  readonly result: PolicyAuditResult;
}

/** An upstream endpoint a call could not reach before it failed over to the next one. */
export interface FailedEndpoint {
  readonly origin: string;
  readonly region: string | undefined;
  /** The error's code (`ECONNREFUSED`, `UND_ERR_SOCKET`, …). */
  readonly error: string;
}

export interface RequestRecord {
  readonly direction: Direction;
  readonly method: string | undefined;
  /** `HTTP/1.1`, `HTTP/2.0`: as the client spoke it. */
  readonly protocol: string;
  /** `performance.now()` when the request reached its handler. */
  readonly started: number;
  /** The header list as received: without a span, the caller's trace id is read from it. */
  readonly rawHeaders: readonly string[];
  requestId: string;
  /** The caller tenant: proved (inbound), or named by the call's context (outbound). */
  tenant: string | undefined;
  /** The caller's SPIFFE id (inbound). */
  callerId: string | undefined;
  /** The calling service, from the caller's SVID (inbound). */
  peerService: string | undefined;
  target: string | undefined;
  /** Canonical path, without the query. */
  path: string | undefined;
  /** The route template that named the target (the rule's path pattern): the span's name. */
  route: string | undefined;
  decision: Decision | undefined;
  grantId: string | undefined;
  /** An audit-mode grant that would have allowed the request (policy rollout). */
  policyAudit: PolicyAudit | undefined;
  cache: CacheResult | undefined;
  /** The `outbound.upstreams` key the call went to. */
  upstream: string | undefined;
  /** The region of the upstream endpoint that answered (outbound, endpoints with a region). */
  region: string | undefined;
  /** Endpoints tried and unreachable before the one that answered, or before giving up. */
  failedEndpoints: FailedEndpoint[] | undefined;
  /** Reserved header names from the network, stripped as spoofing (inbound). */
  spoofed: readonly string[] | undefined;
  /** Routing header names from the network, stripped as noise (inbound). */
  routingStripped: readonly string[] | undefined;
  /** Request body bytes taken from the client (declared length, or counted when chunked). */
  bytesIn: number;
  /** Response body bytes sent to the client (a refusal's JSON included). */
  bytesOut: number;
  /** From sending to the app or peer until its response head came back; undefined: not called. */
  upstreamSeconds: number | undefined;
  /** The status answered (499 when the client left first). */
  status: number;
  /** A gRPC call's `grpc-status`: the app's or peer's, or the one Palisade refused it with. */
  grpcStatus: number | undefined;
  /** The refusal answered, if the request was refused. */
  refusal: Refusal | undefined;
  /** An error no stage expected: answered `upstream_unavailable` and logged. */
  unexpected: unknown;
  /** From the start until the response completed. */
  seconds: number;
}

export function newRecord(
  direction: Direction,
  method: string | undefined,
  rawHeaders: readonly string[],
  protocol: string,
): RequestRecord {
  return {
    direction,
    method,
    protocol,
    started: performance.now(),
    rawHeaders,
    requestId: "",
    tenant: undefined,
    callerId: undefined,
    peerService: undefined,
    target: undefined,
    path: undefined,
    route: undefined,
    decision: undefined,
    grantId: undefined,
    policyAudit: undefined,
    cache: undefined,
    upstream: undefined,
    region: undefined,
    failedEndpoints: undefined,
    spoofed: undefined,
    routingStripped: undefined,
    bytesIn: 0,
    bytesOut: 0,
    upstreamSeconds: undefined,
    status: 0,
    grpcStatus: undefined,
    refusal: undefined,
    unexpected: undefined,
    seconds: 0,
  };
}
