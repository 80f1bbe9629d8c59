/**
 * The per-request context the stages of either direction read and write: the request, the
 * generation it is served under, what earlier stages found, and its record. It also owns
 * the request's two resources, the tenant's in-flight slot and the call to the app or peer,
 * and ties both to the client's response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Readable } from "node:stream";
import type { Span } from "@opentelemetry/api";
import type { EndpointRuntime, Generation, UpstreamRuntime } from "../config/generation.js";
import type { RouteCacheConfig } from "../config/schema.js";
import { UpstreamAbort } from "../http/abort.js";
import type { HeaderMap, UpstreamResponse } from "../http/message.js";
import type { CompiledGrant } from "../tenancy/grants.js";
import type { TargetRule } from "../tenancy/target.js";
import type { Direction } from "../telemetry/metrics.js";
import { startRequestSpan } from "../telemetry/tracing.js";
import type { ProxyDeps } from "./deps.js";
import { sendUpstream, type ForwardRequest } from "./forward.js";
import type { RequestHeaders } from "./headers.js";
import { newRecord, type RequestRecord } from "./record.js";
import type { Route } from "./route.js";

/** A request over HTTP/1.1, or one HTTP/2 stream through Node's compatibility API. */
export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

export class RequestContext {
  /** Read once: a reload during the request does not change what it is served under. */
  readonly generation: Generation;
  readonly record: RequestRecord;
  /**
   * Started here, not by a consumer: the forwarded `traceparent` must name it before the
   * request leaves. Undefined without an exporter; not recording when unsampled.
   */
  readonly span: Span | undefined;

  // Written by the stages, in list order; a stage reads only what an earlier one wrote.
  /** readHeaders: one pass over the raw headers. */
  headers!: RequestHeaders;
  /**
   * toApp (inbound) / pickUpstream (outbound): the rule naming the target tenant, the path
   * and query it reads, and the route's cache settings.
   */
  targetRule!: TargetRule;
  pathWithQuery!: string;
  cacheRoute!: RouteCacheConfig;
  /** pickUpstream (outbound): the upstream the app named. */
  upstream: UpstreamRuntime | undefined;
  /**
   * pickEndpoints (outbound): the upstream's endpoints the tenant may reach, in the order
   * to try them (residency); never empty once set.
   */
  endpoints: readonly EndpointRuntime[] = [];
  /** identify (inbound) / callTenant (outbound): the caller tenant. */
  tenant!: string;
  route!: Route;
  /** authorize: the grant that allowed a cross-tenant request. */
  grant: CompiledGrant | undefined;
  /** takeBody: the request body to forward, or null. */
  body: Readable | null = null;
  /** The forward or cache stage: what came back; the response stages reshape it. */
  response!: UpstreamResponse;
  responseHeaders!: HeaderMap;

  /** The tenant's in-flight slot (admit), given back once client and upstream are done. */
  #slot: (() => void) | undefined;
  /** Aborts the call to the app or peer: its client left, or drain cut it. */
  #abort: UpstreamAbort | undefined;
  /** The upstream call's body once it answered; the call is open until it closes. */
  #upstreamBody: Readable | undefined;
  #upstreamOpen = false;
  #clientGone = false;

  constructor(
    readonly direction: Direction,
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly deps: ProxyDeps,
  ) {
    this.generation = deps.generation();
    this.record = newRecord(direction, req.method, req.rawHeaders, `HTTP/${req.httpVersion}`);
    this.span = deps.tracing && startRequestSpan(deps.tracing, direction, req);
    res.once("close", this.#clientClosed);
  }

  /** The call to the app or peer was aborted (its client left, or drain cut it). */
  get upstreamAborted(): boolean {
    return this.#abort?.aborted === true;
  }

  /**
   * Holds the tenant's in-flight slot until the response has closed and the upstream call
   * (if any) has ended: a client that walks away must not free the slot while the app is
   * still working for it, or one tenant could hold every app connection under its cap.
   */
  holdSlot(release: () => void): void {
    this.#slot = release;
    this.#releaseWhenDone();
  }

  /**
   * Sends the request to the app or a peer, tied to this request: aborted when the client
   * goes away (or drain cuts its socket) before the upstream has answered in full, and
   * counted open until its body has closed.
   */
  async callUpstream(request: ForwardRequest): Promise<UpstreamResponse> {
    this.#abort = new UpstreamAbort();
    this.#upstreamOpen = true;
    request.signal = this.#abort;
    // Gone before the call started (while it waited on the cache): undici refuses at once.
    if (this.#clientGone) this.#abort.abort();
    // Made here, not per request: cache hits and refusals never call upstream.
    const ended = (): void => {
      this.#upstreamOpen = false;
      this.#releaseWhenDone();
    };
    let response: UpstreamResponse;
    const sent = performance.now();
    try {
      response = await sendUpstream(request);
    } catch (err) {
      ended();
      throw err;
    }
    this.record.upstreamSeconds = (performance.now() - sent) / 1000;
    this.#upstreamBody = response.body;
    response.body.once("close", ended);
    return response;
  }

  readonly #clientClosed = (): void => {
    this.#clientGone = true;
    // Nothing reads the rest of the upstream body now (the client left, or a refusal was
    // written instead): abort, so the app's connection is freed now, not at its timeout.
    if (this.#upstreamOpen && !this.#upstreamBody?.readableEnded) this.#abort?.abort();
    this.#releaseWhenDone();
  };

  #releaseWhenDone(): void {
    if (!this.#clientGone || this.#upstreamOpen || !this.#slot) return;
    const release = this.#slot;
    this.#slot = undefined;
    release();
  }
}
