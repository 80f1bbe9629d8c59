/**
 * The admin listener (loopback by default): metrics, health, readiness (health.ts), the loaded
 * tenants, the running config with secrets redacted, tenant cache purges, and the live view:
 * the page at `/`, the event stream at `/events` and the window statistics at `/top`
 * (docs/live-view.md). The stats listener serves none of it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Generation } from "../config/generation.js";
import { redactSecrets } from "../config/redact.js";
import type { LiveView } from "../live/index.js";
import { isTenantId } from "../tenancy/tenant-id.js";
import { serveEvents } from "./events.js";
import { HEALTH_PATHS, json, serveHealth, type HealthDeps } from "./health.js";
import { servePage } from "./page.js";

export interface AdminDeps extends HealthDeps {
  generation(): Generation;
  /** Purges a tenant's cache entries (under `prefix` if given); undefined for an unknown tenant. */
  purgeCache(tenant: string, prefix: string | undefined): number | undefined;
  cacheBytes(tenant: string): number;
  live: LiveView;
}

export function createAdminServer(deps: AdminDeps): Server {
  return createServer((req, res) => {
    route(deps, req, res).catch((err: unknown) =>
      json(res, 500, { error: "internal", message: (err as Error).message }),
    );
  });
}

async function route(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://admin");
  const key = `${req.method ?? ""} ${url.pathname}`;
  if (req.method === "GET" && HEALTH_PATHS.has(url.pathname))
    return serveHealth(deps, url.pathname, req, res);
  switch (key) {
    case "GET /":
      servePage(deps.generation(), deps.live, res);
      return;
    case "GET /events":
      serveEvents(deps.live, url, req, res);
      return;
    case "GET /top":
      json(res, 200, top(deps.live));
      return;
    case "GET /tenants":
      json(res, 200, tenants(deps));
      return;
    case "GET /config": {
      const generation = deps.generation();
      json(res, 200, {
        file: generation.loaded.file,
        generation: generation.id,
        loadedAt: generation.loadedAt.toISOString(),
        // Secrets never leave: one rule over the whole config (config/redact.ts).
        config: redactSecrets(generation.config),
      });
      return;
    }
    case "POST /cache/purge":
      purge(deps, url, res);
      return;
    default:
      json(res, 404, { error: "not_found", message: `no admin endpoint ${key}` });
  }
}

function purge(deps: AdminDeps, url: URL, res: ServerResponse): void {
  const tenants = url.searchParams.getAll("tenant");
  const prefixes = url.searchParams.getAll("prefix");
  const tenant = tenants[0];
  if (tenants.length !== 1 || tenant === undefined || !isTenantId(tenant) || prefixes.length > 1) {
    return json(res, 400, {
      error: "bad_request",
      message: "exactly one valid tenant= and at most one prefix=",
    });
  }
  const purged = deps.purgeCache(tenant, prefixes[0]);
  if (purged === undefined)
    return json(res, 404, { error: "unknown_tenant", message: `no tenant ${tenant}` });
  json(res, 200, { tenant, prefix: prefixes[0] ?? null, purged });
}

function tenants(deps: AdminDeps): unknown {
  const generation = deps.generation();
  return [...generation.tenants.values()].map((t) => ({
    id: t.id,
    revoked: t.revoked,
    spiffeId: t.spiffeId,
    certExpires: t.expiresAt.toISOString(),
    cacheBytes: deps.cacheBytes(t.id),
    grantsFrom: generation.config.grants.filter((g) => g.from === t.id).length,
    grantsTo: generation.config.grants.filter((g) => g.to === t.id).length,
  }));
}

function top({ stats, feed, now }: LiveView): unknown {
  const at = now();
  return {
    time: new Date(at).toISOString(),
    windowSeconds: stats.windowSeconds,
    rows: stats.top(at),
    streams: { open: feed.subscribers, dropped: feed.dropped },
  };
}
