/**
 * A real app on a loopback port that records every request it sees, so tests can assert
 * that a refused request never reached it.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type AppHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface TestApp {
  url: string;
  seen: SeenRequest[];
  handler: AppHandler;
  close(): Promise<void>;
}

/** Echoes the request as JSON unless a test installs another handler. */
export const echo: AppHandler = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
};

export async function startApp(handler: AppHandler = echo): Promise<TestApp> {
  const app: TestApp = { url: "", seen: [], handler, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      app.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      app.handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  // Idempotent, like RunningSidecar.stop.
  app.close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
  return app;
}
