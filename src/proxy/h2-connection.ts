/**
 * The connection under a request, whichever protocol carried it. Over HTTP/2, Node hands a
 * stream's request a proxy of the session's socket, not the socket itself, while identity
 * (tls/peer-identity.ts) and the listener's bookkeeping (connections.ts) are kept per TLS
 * socket. So every accepted socket is marked with itself: the proxy forwards property
 * reads, and the mark leads back to the real socket.
 */
import type { ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ClientRequest, ClientResponse } from "../path/context.js";

const SELF = Symbol("palisade.tlsSocket");

type Marked = TLSSocket & { [SELF]?: TLSSocket };

/** HTTP/2 sessions by their TLS socket: drain and revocation close them with GOAWAY. */
const sessions = new WeakMap<Socket, ServerHttp2Session>();

/** Called at `secureConnection`, before HTTP/1.1 or HTTP/2 is spoken on the socket. */
export function markConnection(socket: TLSSocket): void {
  (socket as Marked)[SELF] = socket;
}

/** The TLS socket the request arrived on. */
export function connectionOf(req: ClientRequest): TLSSocket {
  const socket = req.socket as Marked;
  return socket[SELF] ?? socket;
}

/** True when `socket` carries HTTP/2: nothing may write HTTP/1.1 text on it. */
export function speaksHttp2(socket: Socket): boolean {
  return sessions.has(socket);
}

export function registerSession(session: ServerHttp2Session): void {
  const socket = (session.socket as Marked | undefined)?.[SELF];
  if (socket) sessions.set(socket, session);
}

/**
 * GOAWAY on the HTTP/2 session over `socket`, if there is one: the streams it carries
 * finish, no new one starts, and the socket closes after the last. False for HTTP/1.1.
 */
export function closeSessionOn(socket: Socket): boolean {
  const session = sessions.get(socket);
  if (!session) return false;
  if (!session.closed && !session.destroyed) session.close();
  return true;
}

/**
 * Cuts the HTTP/2 session over `socket` at once (a deadline passed, drain ended), if there
 * is one; it then closes its socket itself. That socket must never be written or destroyed
 * under a live session: nghttp2 may have a write in flight, and Node 20 aborts the whole
 * process (`is_write_in_progress()`) when that write completes on a session gone under it.
 */
export function cutSessionOn(socket: Socket): boolean {
  const session = sessions.get(socket);
  if (!session) return false;
  if (!session.destroyed) session.destroy();
  return true;
}

/**
 * No further request on this connection once the current answer is out: HTTP/1.1 closes
 * after the response, HTTP/2 sends GOAWAY (streams already open finish, no new ones start).
 */
export function closeConnectionAfter(res: ClientResponse): void {
  if ("stream" in res) res.stream.session?.close();
  else res.shouldKeepAlive = false;
}
