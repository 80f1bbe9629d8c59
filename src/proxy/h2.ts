/**
 * The inbound listener's server: one TLS listener offering ALPN `h2` and `http/1.1`, whose
 * HTTP/1.1 connections get Node's HTTP/1.1 server unchanged and whose HTTP/2 streams reach
 * the same request handler through Node's compatibility API. What only HTTP/2 allows a peer
 * to do is bounded here, per session (docs/http2-grpc-websocket.md):
 * - streams open at once: SETTINGS_MAX_CONCURRENT_STREAMS; nghttp2 refuses the excess, and
 *   a session that keeps opening them past `maxSessionRejectedStreams` is torn down;
 * - header blocks: `maxHeaderListSize` bytes and `maxHeaderListPairs` fields decoded (HPACK
 *   bombs, CONTINUATION floods), the session's HPACK and frame memory by `maxSessionMemory`;
 * - resets: a peer that resets more than `maxResets` unanswered streams within
 *   `resetWindow` loses its session (rapid reset, CVE-2023-44487);
 * - frames nghttp2 finds invalid (connection-specific headers, bad pseudo-headers): each
 *   resets its stream, and past `maxSessionInvalidFrames` the session goes.
 * It offers RFC 8441 extended CONNECT, which the listener hands to the WebSocket stages.
 */
import { Server, type RequestListener } from "node:http";
import {
  constants,
  createSecureServer,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { EventEmitter } from "node:events";
import type { TLSSocket } from "node:tls";
import type { Http2Limits } from "../config/schema.js";
import type { Logs } from "../telemetry/logs.js";
import type { Http2CloseReason, Metrics } from "../telemetry/metrics.js";
import { markConnection, registerSession } from "./h2-connection.js";

/**
 * Decoded header bytes an HTTP/2 stream may carry. Above HTTP/1.1's 16 KiB cap, so that a
 * request between the two is refused `431 headers_too_large` by the request path (counted
 * and logged like HTTP/1.1's) rather than reset unseen; above this, nghttp2 resets it.
 */
export const H2_MAX_HEADER_LIST_BYTES = 64 * 1024;

/** Invalid frames and refused streams a session may send before it is torn down. */
const MAX_INVALID_FRAMES = 100;
const MAX_REJECTED_STREAMS = 100;

export interface H2Deps {
  metrics: Metrics;
  logs: Logs;
  now(): number;
}

/**
 * @param headersCount `limits.headersCount` when the listener starts: nghttp2's field cap
 *   sits well above it, so a request just over the limit still gets its 431.
 */
export function createInboundH2Server(
  tls: SecureServerOptions,
  limits: Http2Limits & { headersCount: number },
  http1: { maxHeaderSize: number; connectionsCheckingInterval: number },
  deps: H2Deps,
  handler: RequestListener,
): Server {
  const server = createSecureServer(
    {
      ...tls,
      allowHTTP1: true,
      // TCP_NODELAY at accept. Node's HTTP/2 session sets it on its own sockets, but the
      // HTTP/1.1 connections this server hands to Node's HTTP/1.1 code kept Nagle on (an
      // https.Server would have set it): a response's last small segment could wait for
      // the peer's delayed ACK.
      noDelay: true,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: H2_MAX_HEADER_LIST_BYTES,
        enablePush: false,
        // RFC 8441: WebSocket over a stream (path/tunnel-h2.ts); plain CONNECT stays refused.
        enableConnectProtocol: true,
      },
      maxHeaderListPairs: 2 * limits.headersCount + 8,
      maxSessionMemory: limits.maxSessionMemory,
      maxSessionInvalidFrames: MAX_INVALID_FRAMES,
      maxSessionRejectedStreams: MAX_REJECTED_STREAMS,
    },
    handler as never,
  );
  // What https.Server's constructor sets for HTTP/1.1 connections and Http2SecureServer
  // leaves unset, which would otherwise change the HTTP/1.1 path's behaviour.
  Object.assign(server, {
    maxHeaderSize: http1.maxHeaderSize,
    requireHostHeader: true,
    rejectNonStandardBodyWrites: false,
    connectionsCheckingInterval: http1.connectionsCheckingInterval,
    // Drain's last step cuts every HTTP/1.1 connection Node tracks; HTTP/2 sessions are
    // cut by the listener's connection set.
    closeAllConnections(this: Server) {
      Server.prototype.closeAllConnections.call(this);
    },
  });
  server.prependListener("secureConnection", (socket: TLSSocket) => markConnection(socket));
  guardSessions(server, limits, deps);
  // The listener's code types it as the HTTP/1.1 server whose API it keeps for HTTP/1.1
  // connections (timeouts, closeIdleConnections, setSecureContext).
  return server as unknown as Server;
}

/**
 * Every session `server` makes: known to drain and revocation, its resets limited, and
 * its teardown by Node or nghttp2 counted.
 */
export function guardSessions(server: EventEmitter, limits: Http2Limits, deps: H2Deps): void {
  server.on("session", (session: ServerHttp2Session) => {
    registerSession(session);
    limitResets(session, limits, deps);
  });
  server.on("sessionError", (err: Error & { code?: string }) => {
    const reason = sessionErrorReason(err);
    deps.metrics.http2SessionClosed(reason);
    deps.logs.event.warn({ reason, err: err.message, code: err.code }, "HTTP/2 session closed");
  });
}

/** A bounded label for why Node or nghttp2 tore a session down. */
function sessionErrorReason(err: Error & { code?: string }): Http2CloseReason {
  if (err.code === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES") return "invalid_frames";
  // nghttp2's NGHTTP2_ERR_TOO_MANY_CONTINUATIONS (CVE-2024-27316 class), by its message.
  if (/CONTINUATION/i.test(err.message)) return "continuation_flood";
  return "protocol_error";
}

/**
 * Counts streams the peer reset before they were answered; past `maxResets` within one
 * `resetWindow`, the session is closed with ENHANCE_YOUR_CALM. A reset after the answer
 * began (a gRPC client cancelling a stream it reads) costs the server nothing extra and is
 * not counted.
 */
function limitResets(session: ServerHttp2Session, limits: Http2Limits, deps: H2Deps): void {
  let windowStart = deps.now();
  let resets = 0;
  let closing = false;
  session.on("stream", (stream: ServerHttp2Stream) => {
    stream.once("close", () => {
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR || stream.headersSent) return;
      const now = deps.now();
      if (now - windowStart > limits.resetWindow) {
        windowStart = now;
        resets = 0;
      }
      if (++resets <= limits.maxResets || closing) return;
      closing = true;
      deps.metrics.http2SessionClosed("rapid_reset");
      deps.logs.event.warn(
        { reason: "rapid_reset", resets, remote: session.socket.remoteAddress },
        "HTTP/2 session closed",
      );
      // GOAWAY first, on its own: `destroy(…, code)` tears the socket down before it is sent.
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      setImmediate(() => session.destroy());
    });
  });
}
