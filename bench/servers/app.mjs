/**
 * The benchmark's application: a bare node:http server with fixed bodies, keep-alive.
 *
 *   /tenants/{t}/small            1 KiB
 *   /tenants/{t}/large            64 KiB
 *   /tenants/{t}/nostore/{size}   the same, with `cache-control: no-store` (cache misses)
 *
 * `x-seen-tenant` echoes the `x-palisade-tenant` the app received, so the harness can
 * prove a request really went through a sidecar as the right tenant.
 *
 * usage: node bench/servers/app.mjs PORT
 */
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const bodies = { small: Buffer.alloc(1024, "s"), large: Buffer.alloc(64 * 1024, "L") };
const PATH = /^\/tenants\/[a-z0-9-]+\/(nostore\/)?(small|large)$/;

const server = createServer((req, res) => {
  const match = PATH.exec(req.url ?? "");
  const body = match && bodies[match[2]];
  if (!body) {
    res.writeHead(404, { "content-type": "text/plain", "content-length": 9 });
    res.end("not found");
    return;
  }
  const headers = {
    "content-type": "application/octet-stream",
    "content-length": body.length,
    "x-seen-tenant": req.headers["x-palisade-tenant"] ?? "-",
  };
  if (match[1]) headers["cache-control"] = "no-store";
  res.writeHead(200, headers);
  res.end(body);
});
// Proxies keep their pooled connections open; never be the side that drops them mid-run.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
