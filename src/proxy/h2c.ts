/**
 * h2c by prior knowledge on the outbound listener (DESIGN.md "HTTP/2 and gRPC"): the app
 * may speak HTTP/1.1 or open with the HTTP/2 connection preface, on the same port. The
 * first bytes decide; HTTP/1.1 connections get Node's HTTP/1.1 server unchanged, HTTP/2
 * ones a session whose streams are emitted as the HTTP/1.1 server's own `request` events,
 * so the same handler, connection bookkeeping and deadlines see both.
 */
import type { Server } from "node:http";
import { createServer as createH2cServer } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Http2Limits } from "../config/schema.js";
import { guardSessions, type H2Deps } from "./h2.js";
import { markConnection } from "./h2-connection.js";

/** RFC 9113 §3.4: what an HTTP/2 client by prior knowledge sends first. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export function acceptH2c(
  server: Server,
  limits: Http2Limits & { headersCount: number },
  deps: H2Deps,
): void {
  const h2c = createH2cServer({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, enablePush: false },
    maxHeaderListPairs: 2 * limits.headersCount + 8,
    maxSessionMemory: limits.maxSessionMemory,
  });
  guardSessions(h2c, limits, deps);
  h2c.on("request", (req, res) => server.emit("request", req, res));
  // Node's HTTP/1.1 connection listener, which must see only HTTP/1.1 bytes.
  const http1 = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) =>
    firstBytes(socket, (isH2) => {
      if (!isH2) {
        for (const listener of http1) listener.call(server, socket);
        return;
      }
      markConnection(socket as TLSSocket);
      h2c.emit("connection", socket);
    }),
  );
}

/**
 * Reads until the bytes either match the preface's start or cannot (a request line), then
 * puts them back for whichever server takes the socket. Silence is the listener's head
 * deadline's to cut.
 */
function firstBytes(socket: Socket, decide: (isH2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const length = Math.min(seen.length, PREFACE.length);
    const matches = seen.subarray(0, length).equals(PREFACE.subarray(0, length));
    if (matches && seen.length < PREFACE.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    decide(matches);
    // HTTP/1.1's parser reads the put-back bytes as `data`. An HTTP/2 session reads them
    // itself on its next tick, then reads the socket natively: resuming here would flow
    // them out to no one first.
    if (!matches) socket.resume();
  };
  socket.on("data", onData);
}
