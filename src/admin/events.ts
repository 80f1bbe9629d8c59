/**
 * `GET /events`: the request feed as Server-Sent Events, one `data:` line of JSON per
 * request (live/event.ts), filtered by `tenant=` and `decision=`. Streams are capped (503
 * past the cap) and a stream that falls behind is cut by the feed, never waited for.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { DECISIONS, type EventDecision } from "../live/event.js";
import type { EventFilter } from "../live/feed.js";
import type { LiveView } from "../live/index.js";
import { isTenantId } from "../tenancy/tenant-id.js";
import { json } from "./health.js";

/** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

export function serveEvents(
  live: LiveView,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const filter = parseFilter(url);
  if (typeof filter === "string") return json(res, 400, { error: "bad_request", message: filter });
  const unsubscribe = live.feed.subscribe({
    filter,
    backlog: () => res.writableLength,
    write: (event) => void res.write(`data: ${event}\n\n`),
    // Too slow to keep up: what it has not read is dropped with the socket.
    close: () => res.destroy(),
  });
  if (!unsubscribe) {
    res.setHeader("retry-after", "5");
    return json(res, 503, { error: "too_many_streams", message: "event stream limit reached" });
  }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  // Sends the head now: a client knows it is subscribed before the first event.
  res.write(": palisade request events\n\n");
  const heartbeat = setInterval(() => res.write(":\n\n"), HEARTBEAT_MS).unref();
  const end = () => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  res.once("close", end);
  req.once("close", end);
}

/** The filter, or what is wrong with the query. */
export function parseFilter(url: URL): EventFilter | string {
  const params = url.searchParams;
  for (const name of params.keys()) {
    if (name !== "tenant" && name !== "decision")
      return `unknown parameter ${JSON.stringify(name)}`;
  }
  const tenants = params.getAll("tenant");
  const decisions = params.getAll("decision");
  if (tenants.length > 1 || decisions.length > 1) return "at most one tenant= and one decision=";
  const [tenant] = tenants;
  const [decision] = decisions;
  if (tenant !== undefined && !isTenantId(tenant)) return "tenant= must be a tenant id";
  if (decision !== undefined && !isDecision(decision))
    return `decision= must be one of ${DECISIONS.join(", ")}`;
  return { tenant, decision };
}

function isDecision(value: string): value is EventDecision {
  return (DECISIONS as readonly string[]).includes(value);
}
