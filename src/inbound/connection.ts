/**
 * The connection under a request, whichever protocol carried it. Over HTTP/2, Node hands
 * a stream's request a proxy of the session's socket, not the socket itself, so identity
 * (kept per TLS socket by tls/peer-identity.ts) must be looked up through a mark that the
 * listener puts on every socket it accepts: the proxy forwards property reads to it.
 */
import type { TLSSocket } from "node:tls";
import type { ClientRequest, ClientResponse } from "../path/context.js";

const SELF = Symbol("palisade.tlsSocket");

/** Called at `secureConnection`: lets an HTTP/2 stream find its connection's socket. */
export function markConnection(socket: TLSSocket): void {
  (socket as TLSSocket & { [SELF]?: TLSSocket })[SELF] = socket;
}

/** The TLS socket the request arrived on. */
export function connectionOf(req: ClientRequest): TLSSocket {
  const socket = req.socket as TLSSocket & { [SELF]?: TLSSocket };
  return socket[SELF] ?? socket;
}

/**
 * No further request on this connection once the current answer is out: HTTP/1.1 closes
 * after the response, HTTP/2 sends GOAWAY (streams already open finish, no new ones start).
 */
export function closeConnectionAfter(res: ClientResponse): void {
  if ("stream" in res) res.stream.session?.close();
  else res.shouldKeepAlive = false;
}
