/**
 * WebSocket tunnels (HTTP/1.1 `Upgrade: websocket`). The upgrade request goes through the
 * direction's stages like any request (identity, reserved headers, target and grant,
 * limits); the last stage opens the same upgrade to the app or peer and, on its 101,
 * splices the two sockets. The tunnel holds the tenant's in-flight slot while open, is
 * counted (`palisade_tunnels_open`, bytes), closes after `timeouts.idle` without traffic,
 * and is cut within `RECHECK_MS` once the current generation would refuse its upgrade
 * (tenant revoked or removed, grant removed or expired); inbound, a revoked peer's
 * connection is also cut by the listener's connection set at the reload. Other upgrades are refused: `Upgrade: h2c` through a proxy is a known way to
 * smuggle requests past its checks.
 */
import { ServerResponse, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Dispatcher } from "undici";
import { connectionListedNames, HOP_BY_HOP_FIELDS } from "../http/message.js";
import { decideAccess } from "../tenancy/decide.js";
import type { RequestContext } from "./context.js";
import { ProxyError } from "./errors.js";
import { upstreamError } from "./forward.js";
import { isReserved } from "./respond.js";
import { wireHeaders } from "./headers.js";

const REFUSAL_LINGER_MS = 2_000;

/** How often an open tunnel's decision is taken again against the current generation. */
const RECHECK_MS = 1_000;

/** Node's `upgrade` event. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Upgrade {
  socket: Duplex;
  head: Buffer;
}

/** The raw socket and early bytes of upgrade requests, until their tunnel stage takes them. */
const upgrades = new WeakMap<IncomingMessage, Upgrade>();

/**
 * A response object over the upgrade's socket, so the stages can refuse it like any
 * request; the connection closes after a refusal.
 */
export function upgradeResponse(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): ServerResponse {
  upgrades.set(req, { socket, head });
  const res = new ServerResponse(req);
  res.assignSocket(socket as never);
  res.shouldKeepAlive = false;
  // Node's server closes the connections of its own responses, not of this one: after a
  // refusal the peer gets a moment to read it, then the socket goes.
  res.once("finish", () => {
    socket.end();
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  });
  return res;
}

/** Only WebSocket is tunnelled; the stage before any decision, so nothing else is opened. */
export function onlyWebSocket(ctx: RequestContext): void {
  const protocol = ctx.req.headers["upgrade"];
  if (typeof protocol !== "string" || protocol.toLowerCase() !== "websocket")
    throw new ProxyError("bad_request", "only WebSocket upgrades are supported");
}

export interface TunnelTarget {
  dispatcher: Dispatcher;
  origin: string;
  path: string;
}

/** The last stage of an upgrade: opens it upstream and splices the sockets until either ends. */
export function tunnelTo(
  pick: (ctx: RequestContext) => TunnelTarget,
): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    const upgrade = upgrades.get(ctx.req as IncomingMessage) as Upgrade;
    const { dispatcher, origin, path } = pick(ctx);
    // `Connection` and `Upgrade` were stripped as hop-by-hop; undici writes them from `protocol`.
    const headers = ctx.headers.forward;
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
    upgrade.socket.write(switchingProtocols(answer.headers, ctx.record.requestId));
    ctx.record.status = 101;
    // The socket is the tunnel's now, not a response's: drain and revocation cut it at once
    // rather than wait for a response that never finishes.
    (ctx.res as ServerResponse).detachSocket(upgrade.socket as never);
    await splice(ctx, upgrade, answer.socket);
    // Detached, the response no longer hears its socket close: the context's slot does.
    ctx.res.emit("close");
  };
}

function switchingProtocols(
  headers: Record<string, string | string[] | undefined>,
  requestId: string,
): string {
  const named = connectionListedNames([headers["connection"] ?? ""].flat());
  let head = "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n";
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_FIELDS.includes(name) || named.has(name)) continue;
    if (isReserved(name) || name === "x-request-id") continue;
    for (const item of [value].flat()) head += `${name}: ${item}\r\n`;
  }
  return `${head}x-request-id: ${requestId}\r\n\r\n`;
}

/** Both directions until either side ends, errs or idles out; counted while open. */
function splice(ctx: RequestContext, client: Upgrade, upstream: Duplex): Promise<void> {
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
    const close = (): void => {
      if (!open) return;
      open = false;
      clearInterval(recheck);
      client.socket.destroy();
      upstream.destroy();
      deps.metrics.tunnelClosed(tenant, "websocket");
      resolve();
    };
    for (const [from, to, counter] of [
      [client.socket, upstream, "bytesIn"],
      [upstream, client.socket, "bytesOut"],
    ] as const) {
      from.on("data", (chunk: Buffer) => {
        record[counter] += chunk.length;
        deps.metrics.tunnelBytes(tenant, "websocket", chunk.length);
        if (!to.write(chunk)) from.pause();
      });
      to.on("drain", () => from.resume());
      from.once("end", close);
      from.once("close", close);
      from.on("error", close);
      (from as Duplex & { setTimeout?(ms: number, cb: () => void): void }).setTimeout?.(
        idle,
        close,
      );
    }
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
