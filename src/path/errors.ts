/**
 * Every refusal Palisade answers, in one place. Codes and statuses are public
 * (DESIGN.md "The two paths"); tests, dashboards and alert rules rely on them.
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { grpcRefusalHeaders } from "./grpc.js";

export const ERROR_STATUS = {
  cross_tenant_denied: 403,
  tenant_context_mismatch: 403,
  tenant_context_missing: 403,
  tenant_context_invalid: 403,
  tenant_revoked: 403,
  residency_violation: 403,
  projection_refused: 502,
  ambiguous_target: 400,
  unknown_upstream: 404,
  body_too_large: 413,
  headers_too_large: 431,
  bad_request: 400,
  request_timeout: 408,
  rate_limited: 429,
  upstream_unavailable: 502,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const DEFAULT_MESSAGE: Record<ErrorCode, string> = {
  cross_tenant_denied: "no active grant allows this caller to reach the target tenant",
  tenant_context_mismatch: "the asserted tenant does not match the proved identity",
  tenant_context_missing: "the request carries no tenant context",
  tenant_context_invalid: "the tenant context is invalid or expired",
  tenant_revoked: "the tenant is revoked or no longer configured",
  residency_violation: "the tenant may not be served in this region",
  projection_refused: "the response could not be projected for this grant",
  ambiguous_target: "the target tenant is ambiguous",
  unknown_upstream: "no such upstream",
  body_too_large: "request body too large",
  headers_too_large: "request headers too large",
  bad_request: "malformed request",
  request_timeout: "request not received in time",
  rate_limited: "too many requests",
  upstream_unavailable: "upstream unavailable",
  upstream_timeout: "upstream timed out",
};

/** Refusals that are isolation decisions: counted as denials and audited. */
const ISOLATION_CODES: ReadonlySet<ErrorCode> = new Set([
  "cross_tenant_denied",
  "tenant_context_mismatch",
  "tenant_context_missing",
  "tenant_context_invalid",
  "tenant_revoked",
  "ambiguous_target",
  // Where a tenant's calls and data may go is an isolation rule too: counted and audited
  // per tenant, though not suspicious (a misconfigured app, not an attack).
  "residency_violation",
]);

export function isIsolationCode(code: ErrorCode): boolean {
  return ISOLATION_CODES.has(code);
}

/** A refusal raised anywhere on the request path; the listener turns it into the JSON answer. */
export class ProxyError extends Error {
  readonly status: number;
  /** `rate_limited`: the configured limit that was hit, for the log line. */
  limit: string | undefined;
  /** Seconds until a retry can succeed (`rate_limited` by a token bucket): `Retry-After`. */
  retryAfter: number | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_MESSAGE[code],
    /** False for refusals an honest client can cause (an expired token): no anomaly signal. */
    readonly suspicious = true,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export function errorBody(code: ErrorCode, message: string, requestId: string): string {
  return JSON.stringify({ error: code, message, requestId });
}

/**
 * Writes the refusal if nothing was sent yet: JSON, or for a gRPC call a trailers-only
 * answer (grpc.ts). Once headers are out, the only honest answer is a reset. Returns the
 * body bytes written (0 for a reset or a trailers-only answer).
 */
export function sendError(
  res: ServerResponse | Http2ServerResponse,
  error: ProxyError,
  requestId: string,
  grpc = false,
): number {
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  if (grpc) {
    // No writeHead: `end()` alone sends the one header block with END_STREAM, which is
    // what a gRPC client reads as trailers-only.
    res.statusCode = 200;
    for (const [name, value] of Object.entries(grpcRefusalHeaders(error.code, requestId)))
      res.setHeader(name, value);
    res.end();
    return 0;
  }
  const body = errorBody(error.code, error.message, requestId);
  res.statusCode = error.status;
  for (const [name, value] of Object.entries({
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-request-id": requestId,
    "cache-control": "no-store",
    ...(error.retryAfter === undefined ? {} : { "retry-after": String(error.retryAfter) }),
  }))
    res.setHeader(name, value);
  res.end(body);
  return Buffer.byteLength(body);
}

/** The raw HTTP/1.1 answer for errors found before a request object exists (parser errors). */
export function rawErrorResponse(error: ProxyError, requestId: string): string {
  const body = errorBody(error.code, error.message, requestId);
  return (
    `HTTP/1.1 ${error.status} ${statusText(error.status)}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`
  );
}

function statusText(status: number): string {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}
