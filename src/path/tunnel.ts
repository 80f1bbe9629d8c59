/**
 * WebSocket tunnels: an HTTP/1.1 `Upgrade: websocket`, or an RFC 8441 extended CONNECT
 * (`:protocol websocket`) on an HTTP/2 stream, each with its client end (tunnel-h1.ts,
 * tunnel-h2.ts). The upgrade request goes through the direction's stages like any request
 * (identity, reserved headers, target and grant, limits); the last stage opens the upgrade
 * to the app or peer as HTTP/1.1 and, once it is accepted, splices the client's side to it. The tunnel holds the tenant's in-flight
 * slot while open, is counted (`palisade_tunnels_open`, bytes), closes after `timeouts.idle`
 * without traffic either way, and is cut within `RECHECK_MS` once the current generation
 * would refuse its upgrade (tenant revoked or removed, grant removed or expired); inbound, a
 * revoked peer's connection is also cut by the listener's connection set at the reload.
 * Other upgrades are refused: `Upgrade: h2c` through a proxy is a known way to smuggle
 * requests past its checks.
 */
import type { Duplex, Readable, Writable } from "node:stream";
import type { Dispatcher } from "undici";
import { connectionListedNames, HOP_BY_HOP_FIELDS, type HeaderMap } from "../http/message.js";
import { decideAccess } from "../tenancy/decide.js";
import type { ClientRequest, RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";
import { upstreamError } from "./forward.js";
import { isReserved } from "./respond.js";
import { wireHeaders } from "./headers.js";

/** How often an open tunnel's decision is taken again against the current generation. */
const RECHECK_MS = 1_000;

/** The 101's header fields, as undici hands them over. */
export type UpgradeHeaders = Record<string, string | string[] | undefined>;

/** The client's side of a tunnel, whichever protocol carries it. */
export interface ClientEnd {
  /** Bytes from the client, and where the upstream's go. */
  readable: Readable;
  writable: Writable;
  /** Bytes that arrived with the upgrade request, for the upstream first. */
  head: Buffer;
  /** The upgrade's headers toward the app or peer, from the stages' forward set. */
  upstreamHeaders(forward: HeaderMap): HeaderMap;
  /** The upstream accepted with `headers`: answers the client; the status recorded. */
  accept(headers: UpgradeHeaders, requestId: string): Promise<number> | number;
  /** Ends the client's side at once (idle, revoked, upstream gone). */
  destroy(): void;
  /** The tunnel is over: the response's close, which the context's slot waits for. */
  closed(): void;
}

/** The client ends of upgrade requests, until their tunnel stage takes them. */
const clientEnds = new WeakMap<ClientRequest, ClientEnd>();

export function registerClientEnd(req: ClientRequest, end: ClientEnd): void {
  clientEnds.set(req, end);
}

/**
 * Only WebSocket is tunnelled, named by `Upgrade` (HTTP/1.1) or `:protocol` (HTTP/2, where
 * it is case-sensitive); the stage before any decision, so nothing else is opened.
 */
export function onlyWebSocket(ctx: RequestContext): void {
  const { headers } = ctx.req;
  const extended = headers[":protocol"];
  const protocol = extended ?? headers["upgrade"]?.toLowerCase();
  if (protocol !== "websocket")
    throw new ProxyError("bad_request", "only WebSocket upgrades are supported");
}

export interface TunnelTarget {
  dispatcher: Dispatcher;
  origin: string;
  path: string;
}

/** The last stage of an upgrade: opens it upstream and splices both sides until either ends. */
export function tunnelTo(
  pick: (ctx: RequestContext) => TunnelTarget,
): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    const client = clientEnds.get(ctx.req) as ClientEnd;
    const { dispatcher, origin, path } = pick(ctx);
    // `Connection` and `Upgrade` were stripped as hop-by-hop; undici writes them from `protocol`.
    const headers = client.upstreamHeaders(ctx.headers.forward);
    let answer: Dispatcher.UpgradeData;
    try {
      // `origin` picks the Agent's or Pool's connection, as for requests (untyped there).
      const options = {
        origin,
        path,
        method: "GET",
        protocol: "websocket",
        headers: wireHeaders(headers),
      };
      answer = await dispatcher.upgrade(options);
    } catch (err) {
      throw upstreamError(err);
    }
    try {
      ctx.record.status = await client.accept(answer.headers, ctx.record.requestId);
    } catch (err) {
      answer.socket.destroy();
      throw err;
    }
    await splice(ctx, client, answer.socket);
    client.closed();
  };
}

/**
 * The 101's fields a client may see: neither hop-by-hop (nor named by `Connection`), nor
 * reserved, nor the app's request id (the client gets Palisade's).
 */
export function acceptedFields(headers: UpgradeHeaders): [string, string[]][] {
  const named = connectionListedNames([headers["connection"] ?? ""].flat());
  const fields: [string, string[]][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_FIELDS.includes(name) || named.has(name)) continue;
    if (isReserved(name) || name === "x-request-id") continue;
    fields.push([name, [value].flat()]);
  }
  return fields;
}

/** Both directions until either side closes, errs or idles out; counted while open. */
function splice(ctx: RequestContext, client: ClientEnd, upstream: Duplex): Promise<void> {
  const { deps, generation, record } = ctx;
  const tenant = record.tenant;
  const idle = generation.config[ctx.direction].timeouts.idle;
  deps.metrics.tunnelOpened(tenant, "websocket");
  if (client.head.length > 0) upstream.write(client.head);
  return new Promise((resolve) => {
    let open = true;
    const recheck = setInterval(() => {
      if (!stillAllowed(ctx)) close();
    }, RECHECK_MS).unref();
    // One timer for both directions: "no traffic either way" for `idle` closes the tunnel.
    const quiet = setTimeout(() => close(), idle).unref();
    const close = (): void => {
      if (!open) return;
      open = false;
      clearInterval(recheck);
      clearTimeout(quiet);
      client.destroy();
      upstream.destroy();
      deps.metrics.tunnelClosed(tenant, "websocket");
      resolve();
    };
    for (const [from, to, counter] of [
      [client.readable, upstream, "bytesIn"],
      [upstream, client.writable, "bytesOut"],
    ] as const) {
      from.on("data", (chunk: Buffer) => {
        quiet.refresh();
        record[counter] += chunk.length;
        deps.metrics.tunnelBytes(tenant, "websocket", chunk.length);
        if (!to.write(chunk)) from.pause();
      });
      to.on("drain", () => from.resume());
      // A half-close passes through (its last bytes flushed first); the tunnel ends when
      // either side has closed, or at the idle timeout if the other never does.
      from.once("end", () => to.end());
      from.once("close", close);
      from.on("error", close);
    }
    client.writable.once("close", close);
    client.writable.on("error", close);
  });
}

/** The upgrade's decision under the current generation: the tenant, then its grant. */
function stillAllowed(ctx: RequestContext): boolean {
  const generation = ctx.deps.generation();
  if (!generation.active.has(ctx.tenant)) return false;
  const decision = decideAccess(generation.grants, {
    caller: ctx.tenant,
    target: ctx.route.target,
    method: ctx.req.method ?? "GET",
    segments: ctx.route.segments,
    now: ctx.deps.now(),
  });
  return decision.allow;
}
