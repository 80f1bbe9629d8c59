/**
 * The endpoints admin and stats both serve: `/metrics`, `/healthz` (the process answers)
 * and `/readyz` (listeners up and certificates loaded; false again while draining).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Metrics } from "../telemetry/metrics.js";
import { renderMetrics } from "./exposition.js";

export interface HealthDeps {
  metrics: Metrics;
  ready: () => boolean;
}

export const HEALTH_PATHS: ReadonlySet<string> = new Set(["/metrics", "/healthz", "/readyz"]);

/** Answers one of HEALTH_PATHS (a GET or HEAD; Node leaves the body out of a HEAD answer). */
export async function serveHealth(
  deps: HealthDeps,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  switch (path) {
    case "/metrics": {
      const { contentType, body } = await renderMetrics(
        deps.metrics.registry,
        req.headers.accept,
        deps.metrics.defaultLabels,
      );
      res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
      res.end(body);
      return;
    }
    case "/healthz":
      text(res, 200, "ok\n");
      return;
    default:
      if (deps.ready()) text(res, 200, "ready\n");
      else text(res, 503, "not ready\n");
  }
}

export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" });
  res.end(body);
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(text);
}
