/**
 * The last stages of both paths: the response's headers as the client may see them
 * (hop-by-hop and reserved names never pass from the app or a peer), then the response,
 * streamed with this request's id.
 */
import { foldedName } from "../http/field-name.js";
import type { RequestContext } from "./context.js";
import { writeResponse } from "./forward.js";
import { HEADER_REQUEST_ID, RESERVED_PREFIX, responseHeaders } from "./headers.js";

const X = "x".charCodeAt(0);

/**
 * Folding keeps every lower-case letter, so a name not starting with `x` is never reserved:
 * most response headers are settled without the folding's regex.
 */
export function isReserved(name: string): boolean {
  return (
    name.charCodeAt(0) === X &&
    name.length >= RESERVED_PREFIX.length &&
    foldedName(name).startsWith(RESERVED_PREFIX)
  );
}

/** The upstream's headers without hop-by-hop and reserved names. */
export function filterResponse(ctx: RequestContext): void {
  ctx.responseHeaders = responseHeaders(ctx.response.headers, isReserved);
}

/**
 * Streams the response to the client, counting what leaves (the access line, the byte
 * histograms, and the audit record under a grant); resolves once the client has it all.
 */
export async function respond(ctx: RequestContext): Promise<void> {
  const { response, responseHeaders: headers, record } = ctx;
  headers[HEADER_REQUEST_ID] = record.requestId;
  await writeResponse(ctx.res, response, headers, record);
  record.status = response.statusCode;
  // gRPC's outcome, for the access line and the span: in the trailers, or in the headers of
  // a trailers-only answer. Settled by now: the response has been written in full.
  // Only an HTTP/2 response has trailers to wait for: no extra microtask for the others.
  const trailers = response.trailers && (await response.trailers);
  const grpcStatus = trailers?.["grpc-status"] ?? response.headers["grpc-status"];
  if (grpcStatus !== undefined) record.grpcStatus = Number(grpcStatus);
}
