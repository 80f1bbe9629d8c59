/**
 * The probe's client: raw HTTP/1.1 over mTLS (or bare TCP), so it can send what no
 * well-behaved client would (duplicate Host, smuggling framing, a thousand headers) and
 * see exactly what came back, including "nothing, the connection was closed".
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface Endpoint {
  /** An IP address: the probe never lets the host name become an SNI by accident. */
  host: string;
  port: number;
}

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
}

export interface TlsOptions {
  identity?: ClientIdentity;
  serverName?: string;
}

/** What one exchange produced. `response` is absent when the server sent no HTTP answer. */
export interface Seen {
  response?: ParsedResponse;
  /** Why there was no answer: a TLS alert, a reset, a close, a timeout. */
  failure?: string;
}

export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Sends `request` over a fresh mTLS connection (closed afterwards) and parses the answer. */
export function tlsExchange(
  endpoint: Endpoint,
  tls: TlsOptions,
  request: string | Buffer,
  timeoutMs: number,
): Promise<Seen> {
  const socket = tlsConnect({
    host: endpoint.host,
    port: endpoint.port,
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    ...(tls.identity ? { cert: tls.identity.certPem, key: tls.identity.keyPem } : {}),
    // The probe attacks the sidecar; whether the sidecar's own certificate is right is
    // not what it measures.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
  return collect(socket, "secureConnect", request, timeoutMs);
}

/** The same over plain TCP (the outbound listener, or a target without TLS). */
export function tcpExchange(
  endpoint: Endpoint,
  request: string | Buffer,
  timeoutMs: number,
): Promise<Seen> {
  const socket = netConnect({ host: endpoint.host, port: endpoint.port });
  return collect(socket, "connect", request, timeoutMs);
}

function collect(
  socket: Socket,
  ready: "connect" | "secureConnect",
  request: string | Buffer,
  timeoutMs: number,
): Promise<Seen> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure ??= "timeout";
      socket.destroy();
    }, timeoutMs);
    socket.once(ready, () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) socket.destroy();
      else chunks.push(chunk);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      failure ??= err.code ?? err.message;
    });
    socket.once("close", () => {
      clearTimeout(timer);
      const response = parseResponse(Buffer.concat(chunks).toString("latin1"));
      resolve(response ? { response } : { failure: failure ?? "closed without an answer" });
    });
  });
}

/** Parses the first response in `text` (status line, headers, and the body as sent). */
export function parseResponse(text: string): ParsedResponse | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!match) return undefined;
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(match[0].length, end < 0 ? text.length : end);
  const headers = new Map<string, string>();
  for (const line of head.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = end < 0 ? "" : text.slice(end + 4);
  const length = Number(headers.get("content-length"));
  if (Number.isInteger(length) && length >= 0) body = body.slice(0, length);
  else if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) body = dechunk(body);
  return { status: Number(match[1]), headers, body };
}

function dechunk(text: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    if (lineEnd < 0) return out;
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!(size > 0)) return out;
    out += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * Opens a connection, sends `prefix` (possibly nothing), and measures how long the server
 * keeps it open. Resolves with the milliseconds until the server closed it, or undefined
 * when it was still open after `limitMs` (the probe then closes it).
 */
export function timeUntilClosed(
  socket: Socket,
  prefix: Buffer | undefined,
  limitMs: number,
): Promise<number | undefined> {
  const started = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, limitMs);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    if (prefix) socket.write(prefix);
  });
}

export function openTcp(endpoint: Endpoint): Socket {
  return netConnect({ host: endpoint.host, port: endpoint.port });
}

/** Builds an HTTP/1.1 request head; `headers` are written in order, as given. */
export function requestText(
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body = "",
): string {
  const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return `${method} ${target} HTTP/1.1\r\n${lines}\r\n${body}`;
}
