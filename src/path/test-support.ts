/**
 * One request's context without a listener, for testing a stage alone: a real
 * IncomingMessage and ServerResponse over an unconnected socket, and a generation holding
 * what the stages under test read (the config from the real schema, compiled grants, target
 * rules, header sets), with no certificate material.
 */
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { Generation } from "../config/generation.js";
import { configSchema, type ConfigInput } from "../config/schema.js";
import { foldedName } from "../http/field-name.js";
import { compileGrants } from "../tenancy/grants.js";
import { compileTargetRule } from "../tenancy/target.js";
import { ContextTokens } from "../tenancy/context-token.js";
import { RequestContext } from "./context.js";
import type { ProxyDeps } from "./deps.js";
import type { Direction } from "../telemetry/metrics.js";

export const NOW = Date.parse("2026-06-01T00:00:00Z");

/** A config with `tenants` (no files are read) and `extra` on top. */
export function testGeneration(
  tenants: readonly string[],
  extra: Partial<ConfigInput> = {},
  revoked: readonly string[] = [],
): Generation {
  const config = configSchema.parse({
    service: "orders",
    trustDomain: "mesh.local",
    inbound: { app: "http://127.0.0.1:8080", target: { path: "/tenants/{tenant}/**" } },
    tenants: Object.fromEntries(
      tenants.map((t) => [t, { ca: "ca.crt", cert: "c.crt", key: "c.key" }]),
    ),
    ...extra,
  });
  const active = new Set(tenants.filter((t) => !revoked.includes(t)));
  const partial: Partial<Generation> = {
    id: 1,
    config,
    tenants: new Map(tenants.map((t) => [t, { id: t } as never])),
    active,
    inboundTarget: compileTargetRule(config.inbound.target),
    grants: compileGrants(config.grants, { tenants: active }),
    stripHeaders: new Set(config.inbound.stripHeaders.map(foldedName)),
    allowHeaders: new Set(config.inbound.allowHeaders),
  };
  return partial as Generation;
}

export interface TestRequest {
  method?: string;
  url?: string;
  /** Raw header pairs, as received. */
  headers?: readonly [string, string][];
  tokens?: ContextTokens;
}

export function testContext(
  direction: Direction,
  generation: Generation,
  request: TestRequest = {},
): RequestContext {
  const req = new IncomingMessage(new Socket());
  req.method = request.method ?? "GET";
  req.url = request.url ?? "/";
  req.rawHeaders = (request.headers ?? []).flat();
  const deps: Partial<ProxyDeps> = {
    generation: () => generation,
    tokens: request.tokens ?? new ContextTokens(),
    tracing: undefined,
    now: () => NOW,
  };
  return new RequestContext(direction, req, new ServerResponse(req), deps as ProxyDeps);
}
