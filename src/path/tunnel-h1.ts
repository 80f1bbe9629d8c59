/**
 * The client end of an HTTP/1.1 `Upgrade: websocket`: the raw socket Node hands over at
 * `upgrade`, a response object over it so the stages can refuse like any request, and the
 * `101` written by hand once the app or peer has accepted.
 */
import { ServerResponse, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { acceptedFields, registerClientEnd, type UpgradeHeaders } from "./tunnel.js";

const REFUSAL_LINGER_MS = 2_000;

/** Node's `upgrade` event. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * A response object over an HTTP/1.1 upgrade's socket, so the stages can refuse it like
 * any request; the connection closes after a refusal.
 */
export function upgradeResponse(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as never);
  res.shouldKeepAlive = false;
  // Node's server closes the connections of its own responses, not of this one: after a
  // refusal the peer gets a moment to read it, then the socket goes.
  res.once("finish", () => {
    socket.end();
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  });
  registerClientEnd(req, {
    readable: socket,
    writable: socket,
    head,
    upstreamHeaders: (forward) => forward,
    accept(headers, requestId) {
      socket.write(switchingProtocols(headers, requestId));
      // The socket is the tunnel's now, not a response's: drain and revocation cut it at
      // once rather than wait for a response that never finishes.
      res.detachSocket(socket as never);
      return 101;
    },
    destroy: () => socket.destroy(),
    // Detached, the response no longer hears its socket close: the context's slot does.
    closed: () => res.emit("close"),
  });
  return res;
}

function switchingProtocols(headers: UpgradeHeaders, requestId: string): string {
  let head = "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n";
  for (const [name, values] of acceptedFields(headers))
    for (const item of values) head += `${name}: ${item}\r\n`;
  return `${head}x-request-id: ${requestId}\r\n\r\n`;
}
