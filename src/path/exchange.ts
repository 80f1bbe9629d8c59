/**
 * One request's record (DESIGN.md step 6): what was decided, for whom, and how it ended.
 * Created per request, filled in by the stages, and written once to metrics, the access
 * log, the audit log and the anomaly detector.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Direction } from "../telemetry/metrics.js";
import { ProxyError, sendError, type ErrorCode } from "./errors.js";
import type { ProxyDeps } from "./deps.js";
import type { Readable } from "node:stream";
import {
  isUndiciError,
  sendUpstream,
  upstreamError,
  writeResponse,
  type ForwardRequest,
  type UpstreamResponse,
} from "./forward.js";
import type { SuspiciousEventKind as SuspiciousKind } from "../anomaly/alert.js";
import type { Span } from "@opentelemetry/api";
import {
  endRequestSpan,
  incomingTraceId,
  injectSpan,
  startRequestSpan,
} from "../telemetry/tracing.js";
import { HEADER_REQUEST_ID } from "./headers.js";
import type { HeaderMap } from "../http/message.js";

/** Refusals that are isolation decisions: counted as denials and audited. */
const ISOLATION_CODES: ReadonlySet<ErrorCode> = new Set([
  "cross_tenant_denied",
  "tenant_context_mismatch",
  "tenant_context_missing",
  "tenant_context_invalid",
  "tenant_revoked",
  "ambiguous_target",
]);

const SUSPICIOUS: Partial<Record<ErrorCode, SuspiciousKind>> = {
  cross_tenant_denied: "cross_tenant_denied",
  tenant_context_mismatch: "tenant_context_mismatch",
  tenant_context_invalid: "tenant_context_invalid",
};

export class Exchange {
  readonly started = performance.now();
  requestId = "";
  tenant: string | undefined;
  callerId: string | undefined;
  target: string | undefined;
  path: string | undefined;
  grantId: string | undefined;
  decision: "allow" | "grant" | "deny" | undefined;
  cache: string | undefined;
  upstream: string | undefined;
  /** Response body bytes sent, counted for audited (granted) requests only. */
  bytes = 0;
  readonly span: Span | undefined;
  /** The tenant's in-flight slot (admission.ts), given back once client and upstream are done. */
  #slot: (() => void) | undefined;
  /** Aborts the call to the app or peer: its client left, or drain cut it. */
  #abort: AbortController | undefined;
  /** The upstream call's body once it answered; the call is open until it closes. */
  #upstreamBody: Readable | undefined;
  #upstreamOpen = false;
  #clientGone = false;

  constructor(
    readonly direction: Direction,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly deps: ProxyDeps,
  ) {
    const tracer = deps.tracing?.tracer;
    this.span = tracer && startRequestSpan(tracer, direction, req.method ?? "", req.rawHeaders);
    res.once("close", this.#clientClosed);
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
   * Sends the request to the app or a peer, tied to this exchange: aborted when the client
   * goes away (or drain cuts its socket) before the upstream has answered in full, and
   * counted open until its body has closed.
   */
  async callUpstream(request: ForwardRequest): Promise<UpstreamResponse> {
    this.#abort = new AbortController();
    this.#upstreamOpen = true;
    request.signal = this.#abort.signal;
    // Gone before the call started (while it waited on the cache): undici refuses at once.
    if (this.#clientGone) this.#abort.abort();
    // Made here, not per exchange: cache hits and refusals never call upstream.
    const ended = (): void => {
      this.#upstreamOpen = false;
      this.#releaseWhenDone();
    };
    let response: UpstreamResponse;
    try {
      response = await sendUpstream(request);
    } catch (err) {
      ended();
      throw err;
    }
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

  /** Continues the trace on the next hop: the forwarded `traceparent` names this request's span. */
  propagate(headers: HeaderMap): void {
    if (this.span) injectSpan(this.span, headers);
  }

  /** This request's trace: its span's, or without tracing the one the caller sent, if any. */
  get traceId(): string | undefined {
    return this.span ? this.span.spanContext().traceId : incomingTraceId(this.req.rawHeaders);
  }

  /**
   * Reserved headers arrived from where they must not come from: stripped, and remembered
   * once per request, so a request padded with hundreds of reserved-looking names costs one
   * audit line (listing the first few, cut short) and one anomaly event, not one per name.
   */
  spoofed(headers: readonly string[]): void {
    const listed = headers
      .slice(0, SPOOFED_LISTED)
      .map((name) => name.slice(0, SPOOFED_NAME_CHARS));
    this.deps.logs.audit.warn(
      {
        ...this.#auditFields(),
        reason: "spoofed_header",
        // `header` (the first name) as before, for readers of the one-name line.
        header: listed[0],
        headers: listed,
        headerCount: headers.length,
      },
      "reserved headers from the network stripped",
    );
    this.deps.anomaly.record({
      tenant: this.deps.metrics.label(this.tenant),
      kind: "spoofed_header",
      requestId: this.requestId,
    });
  }

  /** Answers with the JSON refusal and records it. */
  refuse(error: unknown): void {
    const aborted = this.#abort?.signal.aborted === true;
    if ((aborted || !(error instanceof ProxyError)) && (this.res.destroyed || this.req.destroyed)) {
      // The client went away mid-exchange: nothing to answer, and not the upstream's fault.
      this.finish(CLIENT_CLOSED);
      return;
    }
    const refusal = error instanceof ProxyError ? error : internalError(error, this);
    sendError(this.res, refusal, this.requestId);
    this.decision ??= ISOLATION_CODES.has(refusal.code) ? "deny" : undefined;
    if (ISOLATION_CODES.has(refusal.code)) this.#recordDenial(refusal);
    this.finish(refusal.status, refusal.code);
  }

  /**
   * Step 5's last part on both paths: streams the response (with this request's id) to the
   * client, counting what leaves under a grant for the audit record, then records it.
   */
  async respond(response: UpstreamResponse, headers: HeaderMap): Promise<void> {
    headers[HEADER_REQUEST_ID] = this.requestId;
    if (this.grantId !== undefined) {
      response.body.on("data", (chunk: Buffer) => {
        this.bytes += chunk.length;
      });
    }
    await writeResponse(this.res, response, headers);
    this.finish(response.statusCode);
  }

  /** Writes the access line and the request metrics. */
  finish(status: number, error?: ErrorCode): void {
    const seconds = (performance.now() - this.started) / 1000;
    const { metrics, logs } = this.deps;
    if (this.span) {
      endRequestSpan(
        this.span,
        {
          "tenant.id": this.tenant,
          "tenant.target": this.target ?? this.tenant,
          "palisade.decision": this.decision,
          "palisade.grant": this.grantId,
          "palisade.cache": this.cache,
          "http.response.status_code": status,
          "url.path": this.path,
          "palisade.upstream": this.upstream,
          "palisade.request_id": this.requestId,
        },
        error,
      );
    }
    metrics.request(this.direction, this.tenant, status, seconds);
    if (this.grantId !== undefined && this.tenant !== undefined && this.target !== undefined) {
      metrics.granted(this.tenant, this.target);
      logs.audit.info(
        {
          ...this.#auditFields(),
          grant: this.grantId,
          status,
          bytes: this.bytes,
        },
        "cross-tenant request allowed by grant",
      );
    }
    // A refusal is always logged (at warn), access log switch or not: hostile input must
    // leave a trace. Served requests are logged at info when the access log is on.
    const refused = error !== undefined;
    const logged = refused
      ? logs.access.isLevelEnabled("warn")
      : this.deps.accessLog && logs.access.isLevelEnabled("info");
    if (!logged) return;
    const line = {
      direction: this.direction,
      requestId: this.requestId,
      method: this.req.method,
      path: this.path ?? "-",
      status,
      error,
      tenant: this.tenant,
      caller: this.callerId,
      target: this.target,
      decision: this.decision,
      cache: this.cache,
      upstream: this.upstream,
      traceId: this.traceId,
      durationMs: Math.round(seconds * 1e6) / 1e3,
    };
    if (refused) logs.access.warn(line, "request refused");
    else logs.access.info(line);
  }

  #recordDenial(refusal: ProxyError): void {
    const { metrics, logs, anomaly } = this.deps;
    metrics.denied(this.direction, this.tenant, this.target, refusal.code);
    logs.audit.warn(
      { ...this.#auditFields(), reason: refusal.code, detail: refusal.message },
      "request denied",
    );
    const kind = refusal.suspicious ? SUSPICIOUS[refusal.code] : undefined;
    if (kind) {
      anomaly.record({
        tenant: metrics.label(this.tenant),
        kind,
        // The raw (validated) id, not the label: probing invented tenants is still probing.
        // The detector bounds what it keeps per tenant; targets never become metric labels.
        ...(this.target === undefined ? {} : { target: this.target }),
        requestId: this.requestId,
      });
    }
  }

  #auditFields() {
    return {
      direction: this.direction,
      requestId: this.requestId,
      caller: this.tenant,
      callerId: this.callerId,
      target: this.target,
      decision: this.decision,
      method: this.req.method,
      path: this.path,
      traceId: this.traceId,
    };
  }
}

/** Reserved names one audit line lists, and the characters kept of each. */
const SPOOFED_LISTED = 8;
const SPOOFED_NAME_CHARS = 64;

/** nginx's convention for "client closed the request", so dashboards can tell it apart. */
const CLIENT_CLOSED = 499;

function internalError(error: unknown, exchange: Exchange): ProxyError {
  // Upstream failures that surface after the headers (a body timeout, a reset).
  const upstream = upstreamError(error);
  if (upstream.code !== "upstream_unavailable" || isUndiciError(error)) return upstream;
  exchange.deps.logs.root.error(
    { err: error, requestId: exchange.requestId },
    "unexpected error on request path",
  );
  return new ProxyError("upstream_unavailable", "internal error");
}
