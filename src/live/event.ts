/**
 * A request event: what the live view (`/events`, `palisade tap`, the admin page) shows of
 * one request, made from its record once the response has completed. Plain JSON: no
 * query string, no headers, no body; the path is the canonical one the route stage kept.
 */
import type { RequestRecord } from "../path/record.js";
import type { Direction } from "../telemetry/metrics.js";

/** `refused`: answered with an error that is not an isolation decision (429, 400, 502, …). */
export const DECISIONS = ["allowed", "granted", "denied", "refused"] as const;
export type EventDecision = (typeof DECISIONS)[number];

export interface RequestEvent {
  /** ISO 8601, when the response completed. */
  readonly time: string;
  readonly direction: Direction;
  /** The caller tenant, when one was proved or named. */
  readonly tenant: string | undefined;
  /** Who is on the other side: the calling service (inbound) or the upstream (outbound). */
  readonly peer: string | undefined;
  readonly target: string | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly status: number;
  /** The refusal's code, if refused. */
  readonly code: string | undefined;
  readonly decision: EventDecision;
  readonly grant: string | undefined;
  readonly durationMs: number;
  readonly requestId: string;
}

export function eventDecision(record: RequestRecord): EventDecision {
  switch (record.decision) {
    case "deny":
      return "denied";
    case "grant":
      return "granted";
    default:
      // A refusal after an "allow" that is not an isolation code (502, 413) is still refused.
      return record.refusal ? "refused" : "allowed";
  }
}

/** The calling service from an inbound caller's SPIFFE id; the upstream key outbound. */
export function peerOf(record: RequestRecord): string | undefined {
  return record.direction === "outbound" ? record.upstream : record.peerService;
}

export function toEvent(record: RequestRecord, now: number): RequestEvent {
  return {
    time: new Date(now).toISOString(),
    direction: record.direction,
    tenant: record.tenant,
    peer: peerOf(record),
    target: record.target ?? record.tenant,
    method: record.method,
    path: record.path,
    status: record.status,
    code: record.refusal?.code,
    decision: eventDecision(record),
    grant: record.grantId,
    durationMs: Math.round(record.seconds * 1e6) / 1e3,
    requestId: record.requestId,
  };
}
