/**
 * The floor for any Node.js sidecar: a reverse proxy made of node:http(s) and an undici
 * Pool, with no checks, no telemetry, nothing else. Same undici calls as Palisade's
 * forward step (`dispatcher.request` + `pipeline`), so the gap to it is Palisade's own work.
 *
 *   outbound: plain HTTP in  → undici Pool, mTLS with a client certificate, out
 *   inbound:  HTTPS in (requestCert, rejectUnauthorized) → undici Pool, plain HTTP, to the app
 *
 * usage: node bench/servers/bare-proxy.mjs '<json>'
 *   { mode: "outbound"|"inbound", port, upstream, cert, key, ca, servername? }
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { pipeline } from "node:stream";
import { Pool } from "undici";

const options = JSON.parse(process.argv[2]);
const pem = (path) => readFileSync(path, "utf8");
const tls = { cert: pem(options.cert), key: pem(options.key), ca: pem(options.ca) };

const pool = new Pool(options.upstream, {
  connections: 256,
  keepAliveTimeout: 4_000,
  connect: options.mode === "outbound" ? { ...tls, servername: options.servername } : {},
});

/** Hop-by-hop headers (RFC 9110 §7.6.1), which undici also refuses to send. */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
]);

function endToEnd(headers) {
  const out = {};
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name];
  return out;
}

function handle(req, res) {
  const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"];
  pool
    .request({
      method: req.method,
      path: req.url,
      headers: endToEnd(req.headers),
      body: hasBody ? req : null,
    })
    .then(
      (upstream) => {
        res.writeHead(upstream.statusCode, endToEnd(upstream.headers));
        pipeline(upstream.body, res, () => {});
      },
      () => {
        res.writeHead(502, { "content-length": 0 });
        res.end();
      },
    );
}

const server =
  options.mode === "outbound"
    ? createHttpServer(handle)
    : createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, handle);
server.keepAliveTimeout = 60_000;
server.listen(options.port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
