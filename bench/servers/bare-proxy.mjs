/**
 * The floor for any Node.js sidecar: a reverse proxy made of node:http(s) and an undici
 * Pool, with no checks, no telemetry, nothing else. Same undici call and piping as
 * Palisade's forward step (`dispatcher.request`, then `pipe` with error and close
 * handling), so the gap to it is Palisade's own work.
 *
 *   outbound: plain HTTP in  → undici Pool, mTLS with a client certificate, out
 *   inbound:  HTTPS in (requestCert, rejectUnauthorized) → undici Pool, plain HTTP, to the app
 *
 * usage: node bench/servers/bare-proxy.mjs '<json>'
 *   { mode: "outbound"|"inbound", port, upstream, cert, key, ca, servername? }   one hop
 *   { servers: [<hop>, <hop>], workers? }   the single-process layout: both hops in one
 *     process; with `workers` N > 1, node:cluster forks N processes that each run them all
 */
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Pool } from "undici";

const spec = JSON.parse(process.argv[2]);
const pem = (path) => readFileSync(path, "utf8");

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

/**
 * The body to the client with `pipe` and the two failure paths a proxy needs (upstream
 * fails mid-body: cut the client; client leaves: stop reading the upstream), as Palisade's
 * forward step does. Not `stream.pipeline`, which in Node 20 builds an AbortSignal and a
 * DOMException per call: a cost of that helper, not of proxying, so not the floor's.
 */
function relay(body, res) {
  body.once("error", () => res.destroy());
  res.once("close", () => {
    if (!res.writableFinished) body.destroy();
  });
  body.pipe(res);
}

/** The request handler of one hop, forwarding to `pool`. */
const forwardTo = (pool) => (req, res) => {
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
        relay(upstream.body, res);
      },
      () => {
        res.writeHead(502, { "content-length": 0 });
        res.end();
      },
    );
};

function serve(options) {
  const tls = { cert: pem(options.cert), key: pem(options.key), ca: pem(options.ca) };
  const pool = new Pool(options.upstream, {
    connections: 256,
    keepAliveTimeout: 4_000,
    connect: options.mode === "outbound" ? { ...tls, servername: options.servername } : {},
  });
  const handle = forwardTo(pool);
  const server =
    options.mode === "outbound"
      ? createHttpServer(handle)
      : createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, handle);
  server.keepAliveTimeout = 60_000;
  server.listen(options.port, "127.0.0.1");
}

const workers = spec.workers ?? 1;
if (workers > 1 && cluster.isPrimary) {
  // Workers share the listening sockets; a worker that dies takes the row down loudly.
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    process.stderr.write(`bare-proxy: worker ${worker.process.pid} exited (${code ?? signal})\n`);
    process.exit(1);
  });
} else {
  for (const options of spec.servers ?? [spec]) serve(options);
}
process.on("SIGTERM", () => process.exit(0));
