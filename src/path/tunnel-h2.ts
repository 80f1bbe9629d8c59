/**
 * RFC 8441 extended CONNECT: a WebSocket carried on one HTTP/2 stream (`:method CONNECT`,
 * `:protocol websocket`), offered by the inbound listener (SETTINGS_ENABLE_CONNECT_PROTOCOL).
 * It is the HTTP/1.1 `GET` + `Upgrade: websocket` it stands for (RFC 8441 §5): decided by
 * the same stages as that upgrade, as a `GET` (grants name the methods of HTTP/1.1), and
 * carried to the app as that upgrade, since the app speaks HTTP/1.1. HTTP/2 has no
 * `Sec-WebSocket-Key`, so Palisade makes one for the app and checks the app's answer to it;
 * the client gets `200` and the app's negotiated subprotocol and extensions, and the
 * stream's DATA frames are the WebSocket's bytes from then on.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { ClientRequest } from "./context.js";
import { ProxyError } from "./errors.js";
import { acceptedFields, registerClientEnd, type UpgradeHeaders } from "./tunnel.js";

/** RFC 6455 §1.3: what `Sec-WebSocket-Accept` hashes the key with. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const NO_BYTES = Buffer.alloc(0);

/** An HTTP/2 server's `connect` event, for a stream that names a `:protocol`. */
export type ExtendedConnectListener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** A CONNECT stream naming a protocol to tunnel; plain CONNECT has no `:protocol`. */
export function isExtendedConnect(req: ClientRequest): boolean {
  return req.headers[":protocol"] !== undefined;
}

/**
 * Makes the stream the client end of a tunnel, before any stage runs (the record takes the
 * method the stages decide on). A refusal is an ordinary response on the stream.
 */
export function extendedConnectResponse(req: Http2ServerRequest, res: Http2ServerResponse): void {
  // Node's compatibility request has a `method` setter (rewriting `:method`); its types
  // call the property read-only.
  (req as { method: string }).method = "GET";
  const key = randomBytes(16).toString("base64");
  registerClientEnd(req, {
    // The request, not the stream: Node's compatibility layer reads the stream into it.
    readable: req,
    writable: res.stream,
    head: NO_BYTES,
    upstreamHeaders: (forward) => ({ ...forward, "sec-websocket-key": key }),
    accept(headers, requestId) {
      if (headers["sec-websocket-accept"] !== acceptFor(key))
        throw new ProxyError("upstream_unavailable", "the app's WebSocket handshake is invalid");
      res.writeHead(200, streamFields(headers, requestId));
      return 200;
    },
    destroy: () => {
      if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_CANCEL);
    },
    // The response closes with its stream; the context's slot hears that itself.
    closed: () => undefined,
  });
}

/** The app's 101 fields as the `200`'s: its `Sec-WebSocket-Accept` answered Palisade's key. */
function streamFields(
  headers: UpgradeHeaders,
  requestId: string,
): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (const [name, values] of acceptedFields(headers)) {
    if (name === "sec-websocket-accept") continue;
    fields[name] = values.length === 1 ? (values[0] as string) : values;
  }
  fields["x-request-id"] = requestId;
  return fields;
}

function acceptFor(key: string): string {
  return createHash("sha1")
    .update(key + WEBSOCKET_GUID)
    .digest("base64");
}
