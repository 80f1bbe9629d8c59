/**
 * HTTP/2 calls: to an app that speaks h2c (prior knowledge, no TLS), or to a peer sidecar
 * over mTLS (ALPN h2) with one tenant's certificate. One session per origin, its streams
 * multiplexed; a pool is never shared across tenants (the certificate is the session's).
 * Node's own client rather than undici's, whose HTTP/2 support loses response trailers
 * (gRPC's status) in a race with the body's end.
 *
 * What it returns is the shape every upstream call returns (`UpstreamResponse`), with the
 * trailers as a promise that settles once the stream is done; its failures are undici's
 * error classes, so the request path maps them to the same codes (504, 502) as over HTTP/1.1.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from "node:http2";
import { pipeline, type Readable } from "node:stream";
import { errors } from "undici";
import type { UpstreamAbort } from "./abort.js";
import type { HeaderRecord, UpstreamResponse } from "./message.js";

export interface H2Request {
  origin: string;
  method: string;
  path: string;
  /** Flat `[name, value, …]`, Palisade's stamped fields first. */
  headers: string[];
  body: Readable | null;
  /** Response-header and idle-body timeout, ms. */
  timeout: number;
  signal?: UpstreamAbort | undefined;
}

/** undici's pools here keep idle connections 4 s; an HTTP/2 session is worth more. */
const IDLE_MS = 30_000;

export class H2Pool {
  readonly #sessions = new Map<string, ClientHttp2Session>();

  /**
   * @param tls for `https:` origins: the tenant's credentials and the peer's checks.
   * @param idleMs a session with no frames for this long is closed (GOAWAY).
   */
  constructor(
    private readonly tls: SecureClientSessionOptions = {},
    private readonly idleMs = IDLE_MS,
  ) {}

  send(request: H2Request): Promise<UpstreamResponse> {
    const stream = this.#session(request.origin).request(requestHeaders(request), {
      endStream: request.body === null,
    });
    const trailers = new Promise<HeaderRecord>((resolve) => {
      stream.once("trailers", (fields) => resolve(fields as HeaderRecord));
      stream.once("close", () => resolve({}));
    });
    if (request.body) pipeline(request.body, stream, () => {});
    const cancel = (): void => {
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };
    const { signal } = request;
    if (signal) {
      signal.once("abort", cancel);
      stream.once("close", () => signal.removeListener("abort", cancel));
    }
    let answered = false;
    return new Promise((resolve, reject) => {
      stream.setTimeout(request.timeout, () =>
        stream.destroy(answered ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError()),
      );
      stream.once("error", (err: Error) => reject(asUndiciError(err)));
      stream.once("close", () => reject(new errors.SocketError("stream closed before a response")));
      stream.once("response", (fields) => {
        answered = true;
        const statusCode = Number(fields[":status"]);
        resolve({ statusCode, headers: fields, body: stream, trailers });
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#sessions.values()].map(
        (session) => new Promise<void>((resolve) => session.close(() => resolve())),
      ),
    );
  }

  destroy(): Promise<void> {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
    return Promise.resolve();
  }

  #session(origin: string): ClientHttp2Session {
    const open = this.#sessions.get(origin);
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(origin, { ...this.tls, ALPNProtocols: ["h2"] });
    // A failed or closed session is dropped; the next call opens a new one.
    const drop = (): void => {
      if (this.#sessions.get(origin) === session) this.#sessions.delete(origin);
    };
    session.on("error", drop);
    session.on("goaway", drop);
    session.on("close", drop);
    // Like undici's keep-alive: an idle session goes, rather than hold the peer's resources.
    session.setTimeout(this.idleMs, () => session.close());
    this.#sessions.set(origin, session);
    return session;
  }
}

/** `host` becomes `:authority`; repeated fields stay repeated. */
function requestHeaders(request: H2Request): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ":method": request.method, ":path": request.path };
  const { headers } = request;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    const key = name === "host" ? ":authority" : name;
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else out[key] = [existing, value].flat().map(String);
  }
  // gRPC's requests carry `te: trailers` to detect proxies that drop trailers; as a
  // connection-specific field it was not forwarded, and this hop does keep trailers.
  if (String(out["content-type"] ?? "").startsWith("application/grpc")) out["te"] = "trailers";
  return out;
}

function asUndiciError(err: Error): Error {
  if (err instanceof errors.UndiciError) return err;
  return new errors.SocketError(err.message);
}
