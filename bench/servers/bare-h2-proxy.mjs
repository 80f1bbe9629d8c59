/**
 * The floor for an HTTP/2 Node.js sidecar pair: node:http2 in, one node:http2 session out
 * per peer, streams relayed with their trailers, no checks, no telemetry. The HTTP/2
 * counterpart of bare-proxy.mjs.
 *
 *   outbound: h2c in (prior knowledge) → h2 over mTLS (client certificate) out
 *   inbound:  h2 over TLS in (requestCert, rejectUnauthorized) → h2c out, to the app
 *
 * usage: node bench/servers/bare-h2-proxy.mjs '<json>'
 *   { mode: "outbound"|"inbound", port, upstream, cert, key, ca, servername? }
 */
import { readFileSync } from "node:fs";
import { connect, constants, createSecureServer, createServer } from "node:http2";

const options = JSON.parse(process.argv[2]);
const pem = (path) => readFileSync(path, "utf8");
const tls = { cert: pem(options.cert), key: pem(options.key), ca: pem(options.ca) };
const { NGHTTP2_CANCEL } = constants;

/** Connection-specific and pseudo fields are the hop's own (RFC 9113 §8.2.2, §8.3). */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

let session;
/** The one session to the upstream, reopened when it goes. */
function upstream() {
  if (session && !session.closed && !session.destroyed) return session;
  session =
    options.mode === "outbound"
      ? connect(options.upstream, { ...tls, servername: options.servername })
      : connect(options.upstream);
  session.on("error", () => {});
  return session;
}

function forwardable(headers) {
  const out = {};
  for (const name in headers) {
    if (HOP.has(name) || (name.startsWith(":") && name !== ":method" && name !== ":path")) continue;
    out[name] = headers[name];
  }
  return out;
}

function relay(stream, headers) {
  stream.on("error", () => {});
  const out = upstream().request(forwardable(headers), {
    endStream: (stream.readableEnded && stream.readableLength === 0) || false,
  });
  out.on("error", () => {
    if (!stream.headersSent && !stream.destroyed)
      stream.respond({ ":status": 502 }, { endStream: true });
    else stream.close(NGHTTP2_CANCEL);
  });
  stream.on("close", () => out.destroyed || out.close(NGHTTP2_CANCEL));
  stream.pipe(out);
  let trailers = {};
  out.on("trailers", (t) => (trailers = forwardable(t)));
  out.on("response", (head) => {
    if (stream.destroyed) return;
    if (out.endAfterHeaders) return stream.respond(forwardable(head), { endStream: true });
    stream.respond(forwardable(head), { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    out.pipe(stream);
  });
}

const server =
  options.mode === "outbound"
    ? createServer({ settings: { maxConcurrentStreams: 1000 } })
    : createSecureServer({
        ...tls,
        requestCert: true,
        rejectUnauthorized: true,
        settings: { maxConcurrentStreams: 1000 },
      });
server.on("stream", relay);
server.listen(options.port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
