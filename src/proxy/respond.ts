/**
 * Response-side rules shared by both paths: reserved headers never pass from the app, and
 * a response under a projecting grant leaves only as its projection.
 */
import { Readable } from "node:stream";
import type { CompiledGrant } from "../tenancy/grants.js";
import { allowedProjectedHeaders, projectResponseBody } from "../tenancy/projection.js";
import { ProxyError } from "./errors.js";
import { RESERVED_PREFIX, type HeaderMap } from "./headers.js";
import type { UpstreamResponse } from "./forward.js";

export function isReserved(name: string): boolean {
  return name.startsWith(RESERVED_PREFIX);
}

/**
 * A projection must see the whole document, uncompressed: a byte range could start inside
 * a nested object and be projected as if it were the top level, and a conditional answer
 * would tell whether the unprojected document changed.
 */
export function prepareForProjection(headers: HeaderMap): void {
  for (const name of [
    "range",
    "if-range",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
  ]) {
    delete headers[name];
  }
  headers["accept-encoding"] = "identity";
}

/**
 * Buffers the app's response (up to `maxBytes`), keeps only the grant's fields, and drops
 * every header that could carry data. Anything that cannot be projected is refused: an
 * unprojected response must never leave under a projecting grant.
 */
export async function projectGrantedResponse(
  upstream: UpstreamResponse,
  grant: CompiledGrant,
  maxBytes: number,
  method: string,
): Promise<UpstreamResponse & { headers: HeaderMap }> {
  const projection = grant.fields;
  if (!projection) throw new Error("projectGrantedResponse needs a projecting grant");
  const headers: HeaderMap = {};
  for (const name of allowedProjectedHeaders) {
    const value = upstream.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const body = await readAtMost(upstream.body, maxBytes);
  if (body === undefined)
    throw new ProxyError("projection_refused", "response too large to project");
  if (upstream.statusCode === 206)
    throw new ProxyError("projection_refused", "partial content cannot be projected");
  const success = upstream.statusCode >= 200 && upstream.statusCode < 300;
  let projected: Buffer;
  if (method === "HEAD" || upstream.statusCode === 204 || upstream.statusCode === 304) {
    projected = Buffer.alloc(0);
  } else {
    const contentType = [upstream.headers["content-type"]].flat()[0];
    const result = projectResponseBody(body, contentType, projection, maxBytes);
    if (result.ok) projected = result.body;
    // An error answer that cannot be projected keeps its status and loses its body: the
    // caller learns that it failed, never what the target tenant's app said about it.
    else if (!success) projected = Buffer.alloc(0);
    else
      throw new ProxyError("projection_refused", `response cannot be projected (${result.reason})`);
  }
  if (projected.length === 0) delete headers["content-type"];
  headers["content-length"] = String(projected.length);
  return { statusCode: upstream.statusCode, headers, body: Readable.from([projected]) };
}

async function readAtMost(body: Readable, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}
