/**
 * Runs one direction's stage list over a request: each stage in order, the first refusal
 * answered as DESIGN.md's JSON error, and, once the response has completed either way,
 * the record handed to its consumers. Stages are plain functions; a synchronous one costs
 * no microtask.
 */
import { context, trace } from "@opentelemetry/api";
import { reportRequest } from "../telemetry/report.js";
import type { RequestContext } from "./context.js";
import { isIsolationCode, ProxyError, sendError } from "./errors.js";
import { isUndiciError, upstreamError } from "./forward.js";
import { grpcStatusOf, isGrpcContentType } from "./grpc.js";

/** One step of a request's path: reads and writes the context, throws a ProxyError to refuse. */
export type Stage = (ctx: RequestContext) => void | Promise<void>;

/** nginx's convention for "client closed the request", so dashboards can tell it apart. */
const CLIENT_CLOSED = 499;

export async function runStages(stages: readonly Stage[], ctx: RequestContext): Promise<void> {
  try {
    for (const stage of stages) {
      const pending = stage(ctx);
      if (pending) await pending;
    }
  } catch (err) {
    refuse(ctx, err);
  }
  const { record } = ctx;
  record.seconds = (performance.now() - record.started) / 1000;
  const logs = ctx.generation.config.telemetry.logs;
  if (!ctx.span?.isRecording()) {
    // Unsampled: nothing can land on its span, so no context is made for it.
    reportRequest(record, ctx.span, ctx.deps, logs);
    return;
  }
  // The request's span is the active one while its record is reported: an anomaly alert it
  // tips lands on it as a span event (anomaly/sinks.ts).
  context.with(
    trace.setSpan(context.active(), ctx.span),
    reportRequest,
    undefined,
    record,
    ctx.span,
    ctx.deps,
    logs,
  );
}

/** Answers with the JSON refusal, or with nothing when the client has already gone. */
function refuse(ctx: RequestContext, error: unknown): void {
  const { req, res, record } = ctx;
  if ((ctx.upstreamAborted || !(error instanceof ProxyError)) && (res.destroyed || req.destroyed)) {
    // The client went away mid-request: nothing to answer, and not the upstream's fault.
    record.status = CLIENT_CLOSED;
    return;
  }
  const refusal = error instanceof ProxyError ? error : unexpected(error, ctx);
  const grpc = isGrpcContentType(req.headers["content-type"]);
  // A refusal after part of a response went out resets it; what went out stays counted.
  record.bytesOut += sendError(res, refusal, record.requestId, grpc);
  if (grpc) record.grpcStatus = grpcStatusOf(refusal.code);
  // Also over an earlier "allow": residency is decided after authorization.
  if (isIsolationCode(refusal.code)) record.decision = "deny";
  record.refusal = refusal;
  record.status = refusal.status;
}

function unexpected(error: unknown, ctx: RequestContext): ProxyError {
  // Upstream failures that surface after the headers (a body timeout, a reset).
  const upstream = upstreamError(error);
  if (upstream.code !== "upstream_unavailable" || isUndiciError(error)) return upstream;
  ctx.record.unexpected = error;
  return new ProxyError("upstream_unavailable", "internal error");
}
