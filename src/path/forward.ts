/**
 * The one place that sends a request to the next hop (the local app, or a peer sidecar)
 * and writes a response back to the client. Bodies stream both ways with backpressure;
 * upstream failures become DESIGN.md's codes.
 */
import { Transform, type Readable, type Writable, pipeline } from "node:stream";
import { errors, type Dispatcher } from "undici";
import { ProxyError } from "./errors.js";
import type { ClientRequest, ClientResponse, RequestContext } from "./context.js";
import { RESERVED_PREFIX, responseHeaders, wireHeaders } from "./headers.js";
import { foldedName } from "../http/field-name.js";
import type { UpstreamAbort } from "../http/abort.js";
import { H2Pool } from "../http/h2-pool.js";
import type { HeaderMap, HeaderRecord, UpstreamResponse } from "../http/message.js";

export type { UpstreamResponse } from "../http/message.js";

export interface ForwardRequest {
  /** undici's pools (HTTP/1.1, mTLS to peers), or an h2c app's sessions. */
  dispatcher: Dispatcher | H2Pool;
  origin: string;
  method: string;
  path: string;
  headers: HeaderMap;
  body: Readable | null;
  /** Upstream response-header and idle-body timeout, ms. */
  timeout: number;
  signal?: UpstreamAbort;
}

export async function sendUpstream(request: ForwardRequest): Promise<UpstreamResponse> {
  try {
    if (request.dispatcher instanceof H2Pool)
      return await request.dispatcher.send({ ...request, headers: wireHeaders(request.headers) });
    const response = await request.dispatcher.request({
      origin: request.origin,
      path: request.path,
      method: request.method,
      headers: wireHeaders(request.headers),
      body: request.body,
      headersTimeout: request.timeout,
      bodyTimeout: request.timeout,
      signal: request.signal ?? null,
    });
    return { statusCode: response.statusCode, headers: response.headers, body: response.body };
  } catch (err) {
    throw upstreamError(err);
  }
}

export function upstreamError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return new ProxyError("upstream_timeout");
  }
  if (err instanceof errors.RequestContentLengthMismatchError) {
    return new ProxyError("bad_request", "request body does not match its content-length");
  }
  const unavailable = new ProxyError(
    "upstream_unavailable",
    `upstream unavailable (${errorCode(err)})`,
  );
  // Kept for the outbound failover, which retries only failures from before the request left.
  unavailable.cause = err;
  return unavailable;
}

export function isUndiciError(err: unknown): boolean {
  return err instanceof errors.UndiciError;
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : "error";
}

/** The stage: the request body to forward, within the direction's `limits.requestBody`. */
export function takeBody(ctx: RequestContext): void {
  const limit = ctx.generation.config[ctx.direction].limits.requestBody;
  ctx.body = requestBody(ctx.req, limit, ctx.record);
}

/**
 * The request body to forward, or null for requests without one. Its size goes to
 * `count.bytesIn`: the declared length, or the bytes seen so far of a chunked body.
 */
export function requestBody(
  req: ClientRequest,
  limit: number,
  count: { bytesIn: number },
): Readable | null {
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > limit) throw new ProxyError("body_too_large");
  // HTTP/2 frames its body itself: there is one unless END_STREAM came with the headers
  // (gRPC sends none of content-length or transfer-encoding).
  if ("stream" in req)
    return req.stream.endAfterHeaders ? null : pipeline(req, limitBytes(limit, count), () => {});
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) return null;
  if (chunked) return pipeline(req, limitBytes(limit, count), () => {});
  count.bytesIn = Number(length);
  return req;
}

function limitBytes(limit: number, count: { bytesIn: number }): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      count.bytesIn = seen;
      if (seen > limit) callback(new ProxyError("body_too_large"));
      else callback(null, chunk);
    },
  });
}

/**
 * Writes status, headers and a streamed body, adding the body's bytes to `count.bytesOut`;
 * resolves when the client has it all. A hand-written pump with explicit error handling
 * rather than `stream.pipeline`, which in Node 20 builds an AbortSignal (and an error with
 * a stack) for every response it finishes.
 */
export function writeResponse(
  res: ClientResponse,
  response: UpstreamResponse,
  headers: HeaderMap,
  count: { bytesOut: number },
): Promise<void> {
  const body = response.body;
  // The client left while this response was on its way (a coalesced cache miss): its
  // `close` has been and gone, so nothing below would ever settle.
  if (res.destroyed) {
    body.destroy();
    return Promise.reject(new Error("client closed the connection"));
  }
  // gRPC's trailers-only answer (an error status, no messages): one header block that must
  // end the stream, so no writeHead before `end()`.
  if (headers["grpc-status"] !== undefined) return writeTrailersOnly(res, response, headers);
  res.writeHead(response.statusCode, headers);
  return new Promise((resolve, reject) => {
    // The upstream failed mid-body: the caller resets the client (headers are out).
    body.once("error", reject);
    // Closed before its end with no error (an HTTP/2 stream reset with CANCEL or NO_ERROR):
    // the same, or the client would wait for the rest until a deadline cut it.
    body.once("close", () => {
      if (!body.readableEnded)
        reject(new ProxyError("upstream_unavailable", "upstream body closed before its end"));
    });
    res.once("finish", resolve);
    res.once("close", () => {
      if (res.writableFinished) return;
      // The client left: stop reading the upstream, which also keeps it out of any cache.
      body.destroy();
      reject(new Error("client closed the connection"));
    });
    pump(body, res, count, response.trailers);
  });
}

/**
 * The body, counted on the way, then the upstream's trailers (gRPC's status), then the end
 * of the response. One `data` listener does what `pipe` (seven listeners across both
 * streams) and a second, counting `data` listener did; the client's `close` is handled by
 * the caller, which destroys the body.
 */
function pump(
  body: Readable,
  res: ClientResponse,
  count: { bytesOut: number },
  trailers: Promise<HeaderRecord> | undefined,
): void {
  let resume: (() => void) | undefined;
  // Both response kinds are Writables; their `write` overloads just do not unify in the types.
  const out: Writable = res;
  body.on("data", (chunk: Buffer) => {
    count.bytesOut += chunk.length;
    if (out.write(chunk)) return;
    body.pause();
    res.once("drain", (resume ??= () => body.resume()));
  });
  body.once("end", () => {
    if (!trailers) return void res.end();
    void trailers.then((fields) => {
      const passed = responseHeaders(fields, isReservedName);
      if (Object.keys(passed).length > 0) res.addTrailers(passed);
      res.end();
    });
  });
}

function writeTrailersOnly(
  res: ClientResponse,
  response: UpstreamResponse,
  headers: HeaderMap,
): Promise<void> {
  response.body.resume();
  res.statusCode = response.statusCode;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  return new Promise((resolve, reject) => {
    res.once("finish", resolve);
    res.once("close", () => {
      if (!res.writableFinished) reject(new Error("client closed the connection"));
    });
    res.end();
  });
}

function isReservedName(name: string): boolean {
  return foldedName(name).startsWith(RESERVED_PREFIX);
}
