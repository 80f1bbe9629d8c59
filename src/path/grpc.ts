/**
 * Refusals of gRPC calls (DESIGN.md "HTTP/2 and gRPC"). A gRPC client reads the call's
 * outcome from `grpc-status`, not from the HTTP status or a JSON body, so a refusal is a
 * trailers-only response: HTTP 200, no body, `grpc-status` and `grpc-message` in the one
 * header block. The mapping follows the HTTP status of the code, so a code added to the
 * table in errors.ts maps without an edit here.
 */
import type { ErrorCode } from "./errors.js";
import { ERROR_STATUS } from "./errors.js";

/** gRPC status codes Palisade answers (grpc/doc/statuscodes.md). */
export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const BY_HTTP_STATUS: ReadonlyMap<number, number> = new Map([
  [400, GRPC.INVALID_ARGUMENT],
  [403, GRPC.PERMISSION_DENIED],
  [404, GRPC.NOT_FOUND],
  [408, GRPC.DEADLINE_EXCEEDED],
  [413, GRPC.RESOURCE_EXHAUSTED],
  [429, GRPC.RESOURCE_EXHAUSTED],
  [431, GRPC.RESOURCE_EXHAUSTED],
  [502, GRPC.UNAVAILABLE],
  [504, GRPC.DEADLINE_EXCEEDED],
]);

/** The `grpc-status` a refusal is answered with. */
export function grpcStatusOf(code: ErrorCode): number {
  // The one 403 that is about who the caller is, not what it may reach.
  if (code === "tenant_context_missing") return GRPC.UNAUTHENTICATED;
  return BY_HTTP_STATUS.get(ERROR_STATUS[code]) ?? GRPC.INTERNAL;
}

/**
 * `content-type: application/grpc`, `application/grpc+proto`, `application/grpc-web…`:
 * every gRPC flavour reads a trailers-only answer from its headers.
 */
export function isGrpcContentType(value: string | string[] | undefined): boolean {
  return typeof value === "string" && value.toLowerCase().startsWith("application/grpc");
}

/**
 * gRPC's Percent-Encoded form of `grpc-message`: bytes outside printable ASCII, and `%`
 * itself, become `%XX`; the rest passes unchanged (PROTOCOL-HTTP2.md, "Responses").
 */
export function percentEncodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The header block of a trailers-only refusal, HTTP status 200. */
export function grpcRefusalHeaders(
  code: ErrorCode,
  requestId: string,
): Record<string, string | number> {
  return {
    "content-type": "application/grpc",
    "grpc-status": grpcStatusOf(code),
    "grpc-message": percentEncodeGrpcMessage(code),
    "x-request-id": requestId,
    "cache-control": "no-store",
  };
}
