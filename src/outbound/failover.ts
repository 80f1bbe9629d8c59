/**
 * Failover across an upstream's allowed endpoints (outbound/endpoints.ts picked them, in
 * order). The next endpoint is tried only when the request provably did not reach the
 * failed one's app, or may reach it twice:
 * - a connect failure (refused, unreachable, TLS or identity refused): nothing was sent,
 *   so any method, body included, moves on;
 * - a connection lost before the answer, for an idempotent method without a body.
 * Timeouts, aborts and everything else answer at once. A request body is offered to each
 * attempt through a view that reads nothing until the attempt does, so a body that one
 * endpoint has begun to take is never sent to another. All failed: `upstream_unavailable`.
 */
import { Readable } from "node:stream";
import type { EndpointRuntime } from "../config/generation.js";
import type { UpstreamResponse } from "../http/message.js";
import type { RequestContext } from "../path/context.js";
import { errorCode, type ForwardRequest } from "../path/forward.js";
import { ProxyError } from "../path/errors.js";
import { isConnectFailure } from "./connect-failure.js";

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** The connection went away after the request was (perhaps partly) written. */
const LOST = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export type Attempt = (
  endpoint: EndpointRuntime,
  body: Readable | null,
) => Omit<ForwardRequest, "signal">;

/** Sends `attempt` to each endpoint in turn until one answers or failing over is unsafe. */
export async function withFailover(
  ctx: RequestContext,
  attempt: Attempt,
): Promise<UpstreamResponse> {
  const { endpoints, body, record } = ctx;
  let last: unknown;
  for (const [i, endpoint] of endpoints.entries()) {
    // The last try gets the body itself: nothing follows it that would need the body intact.
    const view = body && i < endpoints.length - 1 ? new UntouchedBody(body) : undefined;
    try {
      const response = await ctx.callUpstream(attempt(endpoint, view ?? body));
      record.region = endpoint.region;
      return response;
    } catch (err) {
      if (!mayTryNext(ctx, err, view)) throw err;
      last = err;
      // A lone endpoint's failure is the refusal itself; the access line says it all.
      if (endpoints.length === 1) break;
      const failed = { origin: endpoint.origin, region: endpoint.region, error: causeCode(err) };
      (record.failedEndpoints ??= []).push(failed);
    }
  }
  if (endpoints.length === 1) throw last;
  throw new ProxyError(
    "upstream_unavailable",
    `no allowed endpoint of upstream ${record.upstream ?? ""} is reachable`,
  );
}

function mayTryNext(ctx: RequestContext, err: unknown, view: UntouchedBody | undefined): boolean {
  if (ctx.upstreamAborted || view?.touched === true) return false;
  if (isConnectFailure(err)) return true;
  const method = ctx.req.method ?? "GET";
  return ctx.body === null && IDEMPOTENT.has(method) && LOST.has(causeCode(err));
}

function causeCode(err: unknown): string {
  return errorCode((err as { cause?: unknown }).cause ?? err);
}

/**
 * A request body as one attempt sees it: nothing is read from `source` until the attempt
 * reads, and destroying an untouched view (undici does, when the attempt fails) leaves
 * `source` whole for the next one. Once read from, the view stands for the body: its end
 * ends it, its destruction cuts it.
 */
class UntouchedBody extends Readable {
  touched = false;

  constructor(private readonly source: Readable) {
    super();
  }

  override _read(): void {
    if (this.touched) {
      this.source.resume();
      return;
    }
    this.touched = true;
    this.source.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) this.source.pause();
    });
    this.source.once("end", () => this.push(null));
    this.source.once("error", (err) => this.destroy(err));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.touched && !this.source.readableEnded) this.source.destroy(err ?? undefined);
    callback(err);
  }
}
