/**
 * Raw HTTP/1.1 over TLS or TCP, for requests no well-behaved client will send
 * (duplicate Host, smuggling, oversized headers).
 */
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { connect as netConnect, type Socket } from "node:net";

/** Writes `text` and resolves with everything the server sent before closing (bounded). */
export function rawExchange(
  socket: Socket,
  text: string | Buffer,
  timeoutMs = 5_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    }, timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    socket.write(text, (err) => err && reject(err));
  });
}

export function rawTls(
  port: number,
  options: ConnectionOptions,
  text: string | Buffer,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: "127.0.0.1", port, checkServerIdentity: () => undefined, ...options },
      () => {
        rawExchange(socket, text).then(resolve, reject);
      },
    );
    socket.once("error", reject);
  });
}

export function rawTcp(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port }, () => {
      rawExchange(socket, text).then(resolve, reject);
    });
    socket.once("error", reject);
  });
}

export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}
