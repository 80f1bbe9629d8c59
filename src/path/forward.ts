/**
 * The one place that sends a request to the next hop (the local app, or a peer sidecar)
 * and writes a response back to the client. Bodies stream both ways with backpressure;
 * upstream failures become DESIGN.md's codes.
 */
import { Transform, type Readable, pipeline } from "node:stream";
import { errors, type Dispatcher } from "undici";
import { ProxyError } from "./errors.js";
import type { ClientRequest, ClientResponse, RequestContext } from "./context.js";
import { wireHeaders } from "./headers.js";
import type { HeaderMap, UpstreamResponse } from "../http/message.js";

export type { UpstreamResponse } from "../http/message.js";

export interface ForwardRequest {
  dispatcher: Dispatcher;
  origin: string;
  method: string;
  path: string;
  headers: HeaderMap;
  body: Readable | null;
  /** Upstream response-header and idle-body timeout, ms. */
  timeout: number;
  signal?: AbortSignal;
}

export async function sendUpstream(request: ForwardRequest): Promise<UpstreamResponse> {
  try {
    const response = await request.dispatcher.request({
      origin: request.origin,
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
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
  return new ProxyError("upstream_unavailable", `upstream unavailable (${errorCode(err)})`);
}

export function isUndiciError(err: unknown): boolean {
  return err instanceof errors.UndiciError;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" ? code : "error";
}

/** The stage: the request body to forward, within the direction's `limits.requestBody`. */
export function takeBody(ctx: RequestContext): void {
  ctx.body = requestBody(ctx.req, ctx.generation.config[ctx.direction].limits.requestBody);
}

/** The request body to forward, or null for requests without one. */
export function requestBody(req: ClientRequest, limit: number): Readable | null {
  const length = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) return null;
  if (length !== undefined && Number(length) > limit) throw new ProxyError("body_too_large");
  return chunked ? pipeline(req, limitBytes(limit), () => {}) : req;
}

function limitBytes(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new ProxyError("body_too_large"));
      else callback(null, chunk);
    },
  });
}

/**
 * Writes status, headers and a streamed body; resolves when the client has it all.
 * `pipe` with explicit error handling rather than `stream.pipeline`, which in Node 20
 * builds an AbortSignal (and an error with a stack) for every response it finishes.
 */
export function writeResponse(
  res: ClientResponse,
  response: UpstreamResponse,
  headers: HeaderMap,
): Promise<void> {
  const body = response.body;
  // The client left while this response was on its way (a coalesced cache miss): its
  // `close` has been and gone, so nothing below would ever settle.
  if (res.destroyed) {
    body.destroy();
    return Promise.reject(new Error("client closed the connection"));
  }
  res.writeHead(response.statusCode, headers);
  return new Promise((resolve, reject) => {
    // The upstream failed mid-body: the caller resets the client (headers are out).
    body.once("error", reject);
    res.once("finish", resolve);
    res.once("close", () => {
      if (res.writableFinished) return;
      // The client left: stop reading the upstream, which also keeps it out of any cache.
      body.destroy();
      reject(new Error("client closed the connection"));
    });
    body.pipe(res);
  });
}
