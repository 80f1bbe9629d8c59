/**
 * A `ws` echo app speaking HTTP/1.1 on loopback: every WebSocket message comes back as it
 * came, and every upgrade it accepted is kept with its headers (what the sidecar stamped).
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

/** A grant the WebSocket tests give and take away: globex may open acme's shared feed. */
export const SHARED_FEED_GRANT = {
  from: "globex",
  to: "acme",
  methods: ["GET"],
  paths: ["/tenants/acme/shared/**"],
  expires: "2099-01-01T00:00:00Z",
};

/**
 * The parts of a sidecar config the WebSocket tests change and write back. A type literal,
 * not an interface: it must still pass where a plain config record is taken.
 */
export type TunnelTestConfig = {
  tenants: Record<string, Record<string, unknown>>;
  grants?: Record<string, unknown>[];
};

export interface WebSocketEchoApp {
  url: string;
  /** Upgrade requests the app accepted, in order, with their headers. */
  upgrades: { url: string; headers: IncomingHttpHeaders }[];
  saw(path: string): boolean;
  close(): Promise<void>;
}

export async function startWebSocketEchoApp(): Promise<WebSocketEchoApp> {
  const server = createServer((_req, res) => res.end("no upgrade"));
  const upgrades: WebSocketEchoApp["upgrades"] = [];
  new WebSocketServer({ server }).on("connection", (socket, req) => {
    upgrades.push({ url: req.url ?? "", headers: req.headers });
    socket.on("message", (data, binary) => socket.send(data, { binary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upgrades,
    saw: (path) => upgrades.some((u) => u.url === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
