/**
 * The stats listener (Istio's 15020): what Prometheus and the kubelet need and nothing
 * else, so it can bind a pod address without exposing the admin's `/config`, `/tenants`
 * or cache purges. Plain HTTP, GET and HEAD only.
 */
import { createServer, type Server } from "node:http";
import { HEALTH_PATHS, json, serveHealth, type HealthDeps } from "./health.js";

/**
 * Scrapers and probes hold a handful of connections; beyond this Node closes new ones at
 * accept, so a flood on the pod address cannot pile up sockets (each also has deadlines).
 */
export const STATS_MAX_CONNECTIONS = 64;

export function createStatsServer(deps: HealthDeps): Server {
  const server = createServer((req, res) => {
    // No log line per refusal: this port faces the network, and a scanner must not be able
    // to fill the log. The answer says what went wrong.
    const path = pathOf(req.url);
    if (path === undefined)
      return json(res, 400, { error: "bad_request", message: "unparsable request target" });
    if (!HEALTH_PATHS.has(path))
      return json(res, 404, { error: "not_found", message: `no stats endpoint ${path}` });
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return json(res, 405, { error: "method_not_allowed", message: "GET or HEAD only" });
    }
    serveHealth(deps, path, req, res).catch((err: unknown) =>
      json(res, 500, { error: "internal", message: (err as Error).message }),
    );
  });
  server.maxConnections = STATS_MAX_CONNECTIONS;
  return server;
}

/** The path of an origin-form (or absolute-form) request target; undefined if unparsable. */
function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? "/", "http://stats").pathname;
  } catch {
    return undefined;
  }
}
