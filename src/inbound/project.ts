/**
 * Projection, inbound only: a response under a grant with `fields` leaves only as its
 * projection (tenancy/projection.ts), within the process-wide projection budget.
 */
import { Readable } from "node:stream";
import type { HeaderMap, UpstreamResponse } from "../http/message.js";
import type { ClientResponse, RequestContext } from "../path/context.js";
import { rateLimited } from "../path/admit.js";
import { ProxyError } from "../path/errors.js";
import { filterResponse } from "../path/respond.js";
import type { CompiledGrant } from "../tenancy/grants.js";
import {
  allowedProjectedHeaders,
  isJsonContentType,
  projectResponseBody,
  type Projection,
} from "../tenancy/projection.js";
import type { ProjectionBudget, ProjectionLease } from "./projection-budget.js";

/**
 * The stage: the projection under a projecting grant (none of the upstream's other headers
 * pass), else the upstream's headers filtered as on every path.
 */
export function project(ctx: RequestContext): void | Promise<void> {
  const grant = ctx.grant;
  // Synchronous for every other request: no promise, no microtask.
  if (!grant?.fields) return filterResponse(ctx);
  return projectInto(ctx, grant);
}

async function projectInto(ctx: RequestContext, grant: CompiledGrant): Promise<void> {
  const projected = await projectGrantedResponse(ctx.response, {
    grant,
    method: ctx.req.method ?? "GET",
    limits: ctx.generation.config.projection,
    budget: ctx.deps.projectionBudget,
    client: ctx.res,
  });
  ctx.response = projected;
  ctx.responseHeaders = projected.headers;
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

/** What a projection needs besides the response: the grant, the limits and the budget. */
export interface ProjectionContext {
  grant: CompiledGrant;
  method: string;
  /** `projection` of the request's config generation. */
  limits: { maxBytes: number; maxBufferedBytes: number };
  budget: ProjectionBudget;
  /** The client's response: what the projection holds stays leased until it closes. */
  client: ClientResponse;
}

const EMPTY = Buffer.alloc(0);

/**
 * Buffers the app's response (up to `projection.maxBytes`, within the process-wide
 * `projection.maxBufferedBytes`), keeps only the grant's fields, and drops every header
 * that could carry data. Anything that cannot be projected is refused: an unprojected
 * response must never leave under a projecting grant.
 */
export async function projectGrantedResponse(
  upstream: UpstreamResponse,
  context: ProjectionContext,
): Promise<UpstreamResponse & { headers: HeaderMap }> {
  const projection = context.grant.fields;
  if (!projection) throw new Error("projectGrantedResponse needs a projecting grant");
  const headers: HeaderMap = {};
  for (const name of allowedProjectedHeaders) {
    const value = upstream.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  if (upstream.statusCode === 206) {
    discard(upstream.body);
    throw new ProxyError("projection_refused", "partial content cannot be projected");
  }
  const lease = context.budget.lease(context.limits.maxBufferedBytes);
  // Held until the client's response closes (sent, or the client left); a client that
  // leaves mid-read also stops the read, so nothing stays buffered for nobody.
  const done = (): void => {
    lease.release();
    discard(upstream.body);
  };
  if (context.client.destroyed) done();
  else context.client.once("close", done);
  let projected: Buffer;
  try {
    projected = await projectBody(upstream, projection, context, lease);
    // The projection replaces the document: the lease now covers what is still to be sent.
    if (!lease.hold(projected.length)) throw budgetExceeded();
  } catch (err) {
    lease.release();
    throw err;
  }
  if (projected.length === 0) delete headers["content-type"];
  headers["content-length"] = String(projected.length);
  return { statusCode: upstream.statusCode, headers, body: Readable.from([projected]) };
}

async function projectBody(
  upstream: UpstreamResponse,
  projection: Projection,
  context: ProjectionContext,
  lease: ProjectionLease,
): Promise<Buffer> {
  const status = upstream.statusCode;
  const success = status >= 200 && status < 300;
  const contentType = [upstream.headers["content-type"]].flat()[0];
  if (context.method === "HEAD" || status === 204 || status === 304) {
    upstream.body.resume(); // no body, whatever content-length says
    return EMPTY;
  }
  // Only JSON is ever projected: anything else is refused (or emptied) before it is held.
  if (!isJsonContentType(contentType)) {
    discard(upstream.body);
    if (success)
      throw new ProxyError("projection_refused", "response cannot be projected (not_json)");
    return EMPTY;
  }
  const maxBytes = context.limits.maxBytes;
  const body = await readForProjection(upstream, maxBytes, lease);
  const result = projectResponseBody(body, contentType, projection, maxBytes);
  if (result.ok) return result.body;
  // An error answer that cannot be projected keeps its status and loses its body: the
  // caller learns that it failed, never what the target tenant's app said about it.
  if (!success) return EMPTY;
  throw new ProxyError("projection_refused", `response cannot be projected (${result.reason})`);
}

/**
 * Reads the whole body, leasing its bytes before holding them: all of a declared
 * `content-length` up front (refused before the first byte), then as chunks arrive.
 */
async function readForProjection(
  upstream: UpstreamResponse,
  maxBytes: number,
  lease: ProjectionLease,
): Promise<Buffer> {
  const reserve = (bytes: number): void => {
    let refusal: ProxyError | undefined;
    if (bytes > maxBytes)
      refusal = new ProxyError("projection_refused", "response too large to project");
    else if (bytes > lease.bytes && !lease.hold(bytes)) refusal = budgetExceeded();
    if (!refusal) return;
    discard(upstream.body);
    throw refusal;
  };
  const declared = Number([upstream.headers["content-length"]].flat()[0] ?? Number.NaN);
  if (Number.isSafeInteger(declared) && declared >= 0) reserve(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream.body) {
    size += (chunk as Buffer).length;
    reserve(size);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** Stops reading a body nobody will read; undici reports that as an error nobody awaits. */
function discard(body: Readable): void {
  body.on("error", () => {});
  body.destroy();
}

/** Not the caller's fault and gone once other projections finish: retry later. */
function budgetExceeded(): ProxyError {
  return rateLimited(
    "projection.maxBufferedBytes",
    "too many projected responses in flight (projection.maxBufferedBytes); retry later",
    false,
  );
}
