/**
 * The inbound (mTLS) and outbound (plain, loopback) HTTP/1.1 servers: limits, timeouts,
 * parser errors answered with DESIGN.md's codes, and the connection bookkeeping that
 * graceful drain and revocation need. SNI contexts are looked up in the current generation
 * on every handshake and the no-SNI default is replaced on reload, so rotated certificates
 * serve new handshakes at once while established connections carry on.
 */
import { createServer as createHttpServer, type RequestListener, type Server } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Socket } from "node:net";
import {
  createSecureContext,
  type SecureContext,
  type Server as TlsServer,
  type TLSSocket,
} from "node:tls";
import type { Generation } from "../config/generation.js";
import type { Metrics, Direction } from "../telemetry/metrics.js";
import type { Logs } from "../telemetry/logs.js";
import { verifyConnection, type PeerCheck } from "../tls/peer-identity.js";
import type { ClientRequest, ClientResponse } from "../path/context.js";
import { ProxyError, rawErrorResponse, sendError } from "../path/errors.js";
import { requestIdFrom } from "../path/headers.js";
import { isExtendedConnect, type ExtendedConnectListener } from "../path/tunnel-h2.js";
import { MAX_HEADER_BYTES } from "../path/request-head.js";
import { TLS_OPTIONS } from "../tls/tenant-material.js";
import type { SuspiciousEvent } from "../anomaly/alert.js";
import { createInboundH2Server } from "./h2.js";
import { acceptH2c } from "./h2c.js";
import { speaksHttp2 } from "./h2-connection.js";
import {
  closeAfterInFlight,
  endThenDestroy,
  inCutClose,
  type ConnectionSet,
  type GuardOptions,
  type Stage,
} from "./connections.js";

export { MAX_HEADER_BYTES };

/**
 * How often Node enforces header and request timeouts on open connections. Its default
 * (30 s) lets a slow-headers client hold a socket far past `timeouts.headers`.
 */
const CONNECTION_CHECK_MS = 250;

export interface ListenerDeps {
  generation(): Generation;
  metrics: Metrics;
  logs: Logs;
  anomaly: { record(event: SuspiciousEvent): void };
  now(): number;
}

/**
 * Raw sockets that were already answered with a raw refusal (a 408 at the head deadline, a
 * parser error): what Node reports about them afterwards (the peer closing mid-head) is not
 * another refusal.
 */
const answered = new WeakSet<Socket>();

/**
 * @param extendedConnect HTTP/2 streams with a `:protocol` (RFC 8441 WebSocket); without
 *   it they are refused like any CONNECT.
 */
export function createInboundServer(
  deps: ListenerDeps,
  handler: RequestListener,
  extendedConnect?: ExtendedConnectListener,
): Server {
  const { timeouts, limits } = deps.generation().config.inbound;
  // ALPN `h2` and `http/1.1`: both reach `handler` (proxy/h2.ts).
  const server = createInboundH2Server(
    {
      ...TLS_OPTIONS,
      requestCert: true,
      // Trust is decided by verifyConnection against one tenant's CA, never by OpenSSL's
      // `authorized` over whatever CA list the handshake happened to use.
      rejectUnauthorized: false,
      SNICallback: (name, done) => {
        const context = serverContext(deps.generation(), name);
        if (context) done(null, context);
        else {
          deps.metrics.handshakeFailure("no_sni_match");
          done(Object.assign(new Error("unknown server name"), { counted: true }));
        }
      },
      ...deps.generation().defaultCredentials,
    },
    { ...limits.http2, headersCount: limits.headersCount },
    { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: CONNECTION_CHECK_MS },
    deps,
    handler,
  );
  applyTimeouts(server, timeouts);
  // Prepended: a refused peer's socket must be gone before the HTTP parser reads from it.
  server.prependListener("secureConnection", (socket: TLSSocket) => {
    let check: PeerCheck;
    try {
      check = verifyConnection(socket, deps.generation(), new Date(deps.now()));
    } catch (err) {
      // Nothing a peer sends may throw out of an event handler and take the process down.
      deps.logs.event.error({ err: (err as Error).message }, "peer verification failed");
      check = { ok: false, reason: "bad_certificate" };
    }
    if (check.ok) return;
    deps.metrics.handshakeFailure(check.reason);
    // `claimedTenant` is what the certificate says, unverified: logged, never attributed.
    // Only a tenant whose CA verified the chain is blamed, so a forged SAN raises no alert.
    const { reason, claimedTenant, verifiedTenant: tenant } = check;
    deps.logs.event.warn(
      { reason, tenant, claimedTenant, remote: socket.remoteAddress },
      "peer refused at handshake",
    );
    if (tenant !== undefined) {
      deps.anomaly.record({ tenant: deps.metrics.label(tenant), kind: "handshake_failure" });
    }
    socket.destroy();
  });
  // Node's own listener hands TLS errors to `clientError`, whose HTTP answer and `end()`
  // leave a socket that never finished its handshake half-open (CLOSE-WAIT) for good.
  server.removeAllListeners("tlsClientError");
  server.on(
    "tlsClientError",
    (err: Error & { code?: string; counted?: boolean }, socket: Socket) => {
      socket.destroy();
      // An unknown server name was already counted as `no_sni_match` by the SNI callback, a
      // socket cut at its deadline as `handshake_timeout`, one refused at accept by its
      // address's limit; one cut by drain is no failure (each cut raises this error too).
      if (err.counted || inCutClose()) return;
      const reason =
        err.code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "handshake_timeout" : "handshake_error";
      deps.metrics.handshakeFailure(reason);
      deps.logs.event.debug({ err: err.message, code: err.code }, "TLS handshake failed");
    },
  );
  refuseUnsupported("inbound", deps, server, extendedConnect);
  server.on("clientError", (err, socket) =>
    answerClientError("inbound", deps, err, socket as Socket),
  );
  return server;
}

export function createOutboundServer(deps: ListenerDeps, handler: RequestListener): Server {
  const server = createHttpServer(
    { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: CONNECTION_CHECK_MS },
    handler,
  );
  const { timeouts, limits } = deps.generation().config.outbound;
  applyTimeouts(server, timeouts);
  // HTTP/1.1 or h2c by prior knowledge on the same port (proxy/h2c.ts).
  acceptH2c(server, { ...limits.http2, headersCount: limits.headersCount }, deps);
  refuseUnsupported("outbound", deps, server);
  server.on("clientError", (err, socket) =>
    answerClientError("outbound", deps, err, socket as Socket),
  );
  return server;
}

/**
 * Makes `generation`'s settings those of a running listener: its socket timeouts, and for
 * inbound the credentials for clients without SNI (SNI contexts are looked up live). Other
 * settings are read from the current generation wherever they are used.
 */
export function reconfigureListener(
  name: ListenerName,
  server: Server,
  generation: Generation,
): void {
  const { inbound, outbound } = generation.config;
  // Control listeners keep Node's own timeouts; their socket deadlines follow the
  // generation through guardSockets.
  if (name !== "inbound" && name !== "outbound") return;
  applyTimeouts(server, name === "inbound" ? inbound.timeouts : outbound.timeouts);
  const credentials = generation.defaultCredentials;
  if (name === "inbound" && credentials)
    (server as unknown as TlsServer).setSecureContext({ ...TLS_OPTIONS, ...credentials });
}

/** Throws what `reconfigureListener` would, before anything has changed. */
export function checkDefaultCredentials(generation: Generation): void {
  const credentials = generation.defaultCredentials;
  if (credentials) createSecureContext({ ...TLS_OPTIONS, ...credentials });
}

function serverContext(generation: Generation, name: string): SecureContext | undefined {
  const tenant = generation.serverNames.get(name);
  if (tenant === undefined || !generation.active.has(tenant)) return undefined;
  try {
    return generation.tenants.get(tenant)?.serverContext();
  } catch {
    return undefined;
  }
}

function applyTimeouts(
  server: Server,
  t: { headers: number; request: number; idle: number },
): void {
  server.headersTimeout = t.headers;
  server.requestTimeout = t.request;
  server.keepAliveTimeout = t.idle;
  server.timeout = t.idle;
  // Every field reaches the handler's count (bytes stay bounded by maxHeaderSize): Node's
  // default cut at 2000 would hide a Content-Length or a flood from the count.
  server.maxHeadersCount = 0;
}

/** Parser-level refusals (smuggling, oversized headers, garbage) before any request object. */
function answerClientError(
  direction: Direction,
  deps: ListenerDeps,
  err: Error & { code?: string },
  socket: Socket,
): void {
  const error =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new ProxyError("headers_too_large")
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new ProxyError("request_timeout")
        : new ProxyError("bad_request", `malformed request (${err.code ?? "parse error"})`);
  refuseRaw(direction, deps, error, err.code, socket);
}

/**
 * Requests Node would otherwise answer (or drop) itself: CONNECT tunnels, which Palisade
 * never opens (but for an HTTP/2 extended CONNECT, given to `extendedConnect`), and
 * `Expect` values other than `100-continue` (Node's bare 417). Over HTTP/2 a CONNECT is a
 * stream with a response, not a socket.
 */
function refuseUnsupported(
  direction: Direction,
  deps: ListenerDeps,
  server: Server,
  extendedConnect?: ExtendedConnectListener,
): void {
  server.on("connect", (req: ClientRequest, socket: Socket | Http2ServerResponse) => {
    if (extendedConnect && !(socket instanceof Socket) && isExtendedConnect(req)) {
      extendedConnect(req as Http2ServerRequest, socket);
      return;
    }
    const error = new ProxyError("bad_request", "CONNECT is not supported");
    if (socket instanceof Socket) refuseRaw(direction, deps, error, "CONNECT", socket);
    else refuseRequest(direction, deps, req, socket, error, "CONNECT");
  });
  server.on("checkExpectation", (req, res) => {
    res.shouldKeepAlive = false;
    refuseRequest(
      direction,
      deps,
      req,
      res,
      new ProxyError("bad_request", "unsupported Expect header"),
      "expect",
    );
  });
}

function refuseRequest(
  direction: Direction,
  deps: ListenerDeps,
  req: ClientRequest,
  res: ClientResponse,
  error: ProxyError,
  detail: string,
): void {
  const requestId = requestIdFrom(undefined);
  deps.metrics.refusedUnparsed(direction, error.status);
  deps.logs.access.warn(
    { direction, requestId, method: req.method, status: error.status, error: error.code, detail },
    "request refused",
  );
  sendError(res, error, requestId);
}

function refuseRaw(
  direction: Direction,
  deps: ListenerDeps,
  error: ProxyError,
  detail: string | undefined,
  socket: Socket,
): void {
  // A peer's reset refuses nothing, and a socket answered once is not answered twice. An
  // HTTP/2 connection has no HTTP/1.1 answer: its session is cut by the connection set.
  if (detail === "ECONNRESET" || answered.has(socket) || speaksHttp2(socket)) {
    deps.logs.event.debug({ direction, detail }, "connection error after close or reset");
    socket.destroy();
    return;
  }
  answered.add(socket);
  const requestId = requestIdFrom(undefined);
  // Behind a response still in flight, the refusal is not written: see closeAfterInFlight.
  const behindResponse = closeAfterInFlight(socket);
  deps.metrics.refusedUnparsed(direction, error.status);
  deps.logs.access.warn(
    { direction, requestId, status: error.status, error: error.code, detail, behindResponse },
    behindResponse
      ? "request refused by the parser; connection closes after the response in flight"
      : "request refused by the parser",
  );
  if (!behindResponse) endThenDestroy(socket, rawErrorResponse(error, requestId));
}

export type ListenerName = Direction | "admin" | "stats";

/**
 * Gives every socket `server` accepts its deadlines and counts what they cut. The loopback
 * listeners (outbound, admin) and stats share `outbound.timeouts`; inbound also caps the connections
 * still in their TLS handshake at `inbound.limits.pendingHandshakes`.
 */
export function guardSockets(
  name: ListenerName,
  deps: ListenerDeps,
  server: Server,
  connections: ConnectionSet,
): void {
  const config = () => deps.generation().config;
  const timeouts = () => (name === "inbound" ? config().inbound : config().outbound).timeouts;
  connections.guard(server, {
    tls: name === "inbound",
    deadlines: timeouts,
    maxPending: name === "inbound" ? () => config().inbound.limits.pendingHandshakes : undefined,
    onDeadline: (stage, socket) => cutAtDeadline(name, deps, stage, socket),
    onRefused: (pending, refused) => {
      // Only stats caps plain connections (server.maxConnections): no handshake to count.
      if (name !== "inbound") {
        if (refused === 1)
          deps.logs.event.warn(
            { listener: name, limit: server.maxConnections },
            "connection limit reached; new connections closed at accept",
          );
        return;
      }
      deps.metrics.handshakeFailure("pending_handshakes_limit");
      // One line when the limit is hit, not one per refused connection of a flood.
      if (refused === 1)
        deps.logs.event.warn(
          { listener: name, pending, limit: config().inbound.limits.pendingHandshakes },
          "pending handshake limit reached",
        );
    },
    onRecovered: (refused) =>
      deps.logs.event.info({ listener: name, refused }, "pending handshakes back under the limit"),
    ...(name === "inbound" ? perAddressLimit(deps) : {}),
  });
}

/**
 * `inbound.limits.pendingHandshakesPerAddress`: a peer over it has each new connection
 * destroyed at accept, counted one by one, and logged once per burst (from its first
 * refusal until it has no handshake left), so a flood costs one warn line.
 */
function perAddressLimit(
  deps: ListenerDeps,
): Pick<GuardOptions, "maxPendingPerAddress" | "onAddressRefused" | "onAddressRecovered"> {
  const limit = () => deps.generation().config.inbound.limits.pendingHandshakesPerAddress;
  return {
    maxPendingPerAddress: limit,
    onAddressRefused: (remote, pending, refused) => {
      deps.metrics.handshakeFailure("pending_handshakes_per_address_limit");
      if (refused === 1)
        deps.logs.event.warn(
          { listener: "inbound", remote, pending, limit: limit() },
          "pending handshake limit per address reached",
        );
    },
    onAddressRecovered: (remote, refused) =>
      deps.logs.event.info(
        { listener: "inbound", remote, refused },
        "pending handshakes from address back under the limit",
      ),
  };
}

/**
 * A socket passed its deadline: a handshake never finished (counted as `handshake_timeout`),
 * a request head never completed (answered `408 request_timeout`), or a keep-alive
 * connection stayed idle (closed quietly, as any keep-alive expiry).
 */
function cutAtDeadline(name: ListenerName, deps: ListenerDeps, stage: Stage, socket: Socket): void {
  const remote = socket.remoteAddress;
  if (stage === "idle") {
    deps.logs.event.debug({ listener: name, stage, remote }, "idle connection closed");
    return;
  }
  // Counted here once: the TLS error the cut raises is not counted again (inCutClose).
  if (stage === "handshake") deps.metrics.handshakeFailure("handshake_timeout");
  deps.logs.event.warn({ listener: name, stage, remote }, "connection cut at its deadline");
  if (stage === "head" && (name === "inbound" || name === "outbound"))
    refuseRaw(name, deps, new ProxyError("request_timeout"), "deadline", socket);
}
