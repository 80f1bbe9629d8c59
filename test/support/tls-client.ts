/**
 * mTLS clients that let a test hold on to one connection: a keep-alive client pinned to a
 * single socket (to prove an open connection survives or is cut), and raw connections for
 * pipelining and session resumption.
 */
import { Agent as HttpsAgent, request } from "node:https";
import type { Socket } from "node:net";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";

export interface Credentials {
  cert: string;
  key: string;
  ca: string | string[];
  /** Omit to send no SNI (the client connects to an IP address). */
  servername?: string;
}

export interface PinnedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  socket: TLSSocket;
}

/** Keep-alive over one socket at a time; `socket` says which one served each response. */
export class PinnedClient {
  readonly agent: HttpsAgent;
  readonly sockets: TLSSocket[] = [];

  constructor(
    readonly port: number,
    credentials: Credentials,
  ) {
    this.agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      maxCachedSessions: 0,
      ...credentials,
      checkServerIdentity: () => undefined,
    });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<PinnedResponse> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: this.port, path, agent: this.agent, headers, timeout: 10_000 },
        (res) => {
          const socket = res.socket as TLSSocket;
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              socket,
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("socket", (socket) => {
        if (!this.sockets.includes(socket as TLSSocket)) this.sockets.push(socket as TLSSocket);
      });
      req.on("timeout", () => req.destroy(new Error("request timed out")));
      req.on("error", reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** SHA-256 fingerprint of the server certificate a connection was given. */
export function serverFingerprint(socket: TLSSocket): string {
  return socket.getPeerCertificate().fingerprint256;
}

/**
 * The session a client would keep for resumption: TLS 1.3 delivers it after the
 * handshake (`session` events); TLS 1.2's is there once the handshake is done.
 */
export function sessionOf(socket: TLSSocket): () => Buffer | undefined {
  let latest: Buffer | undefined = socket.getSession();
  socket.on("session", (session: Buffer) => (latest = session));
  return () => latest;
}

/** A raw TLS connection, handshake done (as far as the client can tell). */
export function openTls(
  port: number,
  credentials: Credentials,
  extra: ConnectionOptions = {},
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ...credentials,
      checkServerIdentity: () => undefined,
      ...extra,
    });
    socket.once("secureConnect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export interface Collected {
  text: string;
  /** The server closed the connection (as opposed to the bound running out). */
  closed: boolean;
}

/** Everything the server sends from now until it closes the connection (bounded). */
export function collectUntilClose(socket: Socket, timeoutMs = 10_000): Promise<Collected> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed: false });
    }, timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed: true });
    });
  });
}

/** Resolves when `socket` closes, or with false after `timeoutMs`. */
export function closedWithin(socket: Socket, timeoutMs: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export function rawGet(path: string, host = "palisade", close = false): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
}
