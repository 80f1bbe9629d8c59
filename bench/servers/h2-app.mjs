/**
 * The benchmark's HTTP/2 application: h2c (prior knowledge), the same 1 KiB body as
 * bench/servers/app.mjs for plain requests, and one gRPC unary method that echoes its
 * message, written on node:http2 so the app costs the same under every target.
 *
 *   GET  /tenants/{t}/small      1 KiB, `x-seen-tenant` as app.mjs
 *   POST /bench.Echo/Unary       gRPC: the request message back, `grpc-status: 0`
 *
 * usage: node bench/servers/h2-app.mjs PORT
 */
import { constants, createServer } from "node:http2";

const port = Number(process.argv[2]);
const SMALL = Buffer.alloc(1024, "s");
const { HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS } = constants;

const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  const path = headers[HTTP2_HEADER_PATH] ?? "";
  if (path === "/bench.Echo/Unary") return echo(stream);
  if (!/^\/tenants\/[a-z0-9-]+\/small$/.test(path)) {
    stream.respond({ [HTTP2_HEADER_STATUS]: 404 }, { endStream: true });
    return;
  }
  stream.respond({
    [HTTP2_HEADER_STATUS]: 200,
    "content-type": "application/octet-stream",
    "content-length": SMALL.length,
    "x-seen-tenant": headers["x-palisade-tenant"] ?? "-",
  });
  stream.end(SMALL);
});

/** A unary call: the length-prefixed request message is the response message. */
function echo(stream) {
  const chunks = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  stream.on("end", () => {
    stream.respond(
      { [HTTP2_HEADER_STATUS]: 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.concat(chunks));
  });
}

server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
