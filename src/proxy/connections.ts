/**
 * Every socket a listener accepts, from TCP accept to close. Nothing a peer sends (or does
 * not send) may hold a socket open without a deadline: from accept to the end of the first
 * request head (TLS handshake included) the listener's `timeouts.headers` applies, and from
 * the end of a response to the next request head its `timeouts.idle`. Drain and revocation
 * cut connections here, whatever their stage, so a socket that never finished its handshake
 * cannot keep the process from stopping.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Socket, type Server } from "node:net";
import { closeSessionOn, cutSessionOn } from "./h2-connection.js";

/** Where a connection is: each stage but `busy` (a request is being answered) has a deadline. */
export type Stage = "handshake" | "head" | "busy" | "idle";

export interface Deadlines {
  /** From accept to the end of the first request head, TLS handshake included. */
  headers: number;
  /** From the end of a response to the end of the next request head. */
  idle: number;
}

export interface GuardOptions {
  /** TLS listeners speak HTTP from `secureConnection` on; plain ones from accept. */
  tls: boolean;
  /** Read whenever a deadline is armed, so a reload applies from the next one. */
  deadlines(): Deadlines;
  /** Connections allowed at once before their handshake is done (TLS only). */
  maxPending?: (() => number) | undefined;
  /**
   * The same, per peer address (TLS only): one peer cannot take the whole `maxPending`
   * budget and lock every other peer out.
   */
  maxPendingPerAddress?: (() => number) | undefined;
  /**
   * A new connection from `address` was destroyed at accept (and is not reported again as a
   * failed handshake): it already had `pending`
   * handshakes under way, and `refused` connections (this one included) were refused since
   * it reached its limit; the count restarts once the address has no handshake left.
   */
  onAddressRefused?(address: string, pending: number, refused: number): void;
  /** The address's last pending handshake ended after `refused` refusals: the burst is over. */
  onAddressRecovered?(address: string, refused: number): void;
  /**
   * A deadline passed. The hook may answer (a 408 for a late head) with `endThenDestroy`;
   * a socket it did not end is destroyed right after.
   */
  onDeadline(stage: Stage, socket: Socket): void;
  /**
   * Node closed a new connection at accept (`drop`): `pending` handshakes were already
   * under way, and `refused` connections (this one included) since the limit was hit.
   */
  onRefused(pending: number, refused: number): void;
  /** The pending count fell back under the limit after refusals (`refused` since it was hit). */
  onRecovered?(refused: number): void;
}

/**
 * After an error answer is written, how long the peer gets to read it before the socket is
 * destroyed. `end()` alone leaves the socket to the peer, which may never close its side.
 */
export const CLOSE_LINGER_MS = 2_000;

interface Connection {
  readonly raw: Socket;
  /** The peer's address, while its handshake is pending (TLS only). */
  pendingFrom: AddressPending | undefined;
  /** Where HTTP is spoken: the TLS socket once its handshake is done, else the raw one. */
  http: Socket | undefined;
  stage: Stage;
  responses: number;
  timer: NodeJS.Timeout | undefined;
}

/** Handshakes under way from one peer address, and refusals since it hit its limit. */
interface AddressPending {
  readonly address: string;
  pending: number;
  refused: number;
}

/**
 * Raw sockets Palisade itself cut (a deadline, a limit at accept, drain): the TLS error the
 * cut raises is no handshake failure of the peer's, or was counted once already.
 */
const cutByPalisade = new WeakSet<Socket>();

/** Set while the `close` of a raw socket Palisade cut is being emitted. */
let closingCut = false;

function cut(raw: Socket): void {
  cutByPalisade.add(raw);
  raw.destroy();
}

/**
 * True while a TLS client error comes from a connection Palisade cut itself. Node's TLS
 * socket listens for its raw socket's `close` (registered at accept, before ours) and raises
 * `tlsClientError` from inside that emit; the raw socket is reached from no public field of
 * the TLS one, so the cut is recognised by being in that emit: `markCutClose` brackets it.
 */
export function inCutClose(): boolean {
  return closingCut;
}

function markCutClose(raw: Socket): void {
  raw.prependOnceListener("close", () => (closingCut = cutByPalisade.has(raw)));
  raw.once("close", () => (closingCut = false));
}

/** Sends `text` and closes; destroys the socket if the peer has not closed its side in time. */
export function endThenDestroy(socket: Socket, text: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(text);
  const timer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
  socket.once("close", () => clearTimeout(timer));
}

export class ConnectionSet {
  /** Connections that speak HTTP (TLS ones once the handshake is done): what revocation cuts. */
  readonly sockets = new Set<Socket>();
  /**
   * Every open connection by its address pair, which names it on the raw socket at accept,
   * on the TLS socket Node wraps around it, and on the proxy HTTP/2 hands out as `socket`.
   */
  readonly #accepted = new Map<string, Connection>();
  #pending = 0;
  #refused = 0;
  /** Peer addresses with handshakes under way; an entry goes with its last one. */
  readonly #pendingByAddress = new Map<string, AddressPending>();
  #server: Server | undefined;
  /** Names connections whose peer address was gone at accept: tracked all the same. */
  #unaddressed = 0;
  /**
   * The same connections by the socket HTTP/1.1 requests carry: found per request without
   * building the address key. HTTP/2 requests carry the session's socket proxy instead.
   */
  readonly #byHttpSocket = new WeakMap<Socket, Connection>();

  /** Tracks every socket `server` accepts and gives each stage its deadline. */
  guard(server: Server, options: GuardOptions): void {
    this.#server = server;
    server.on("connection", (raw: Socket) => this.#accept(raw, options));
    if (options.tls) server.on("secureConnection", (tls: Socket) => this.#secured(tls, options));
    // First: a handler that answers at once still finds its response tracked.
    server.prependListener("request", trackResponse);
    server.prependListener("checkExpectation", trackResponse);
    server.on("request", (req: IncomingMessage, res: ServerResponse) =>
      this.#request(req, res, options),
    );
    // A tunnel (WebSocket) is busy for good: its idle timeout is the tunnel's own.
    server.on("upgrade", (req: IncomingMessage) => this.#tunnel(req));
    // An HTTP/2 CONNECT stream (extended CONNECT's tunnel, or its refusal) is a request.
    server.on("connect", (req: IncomingMessage, res: Socket | ServerResponse) => {
      if (!(res instanceof Socket)) this.#request(req, res, options);
    });
    server.on("drop", () => {
      this.#refused++;
      options.onRefused(this.#pending, this.#refused);
    });
    this.#limitPending(options);
  }

  /**
   * Closes the HTTP connections `predicate` picks: idle ones at once, busy ones as soon as
   * their current response is written. Requests that arrive meanwhile (pipelined behind
   * it, or sent before the close reaches the client) are the handlers' to answer: a
   * revoked tenant's with `403 tenant_revoked` and `Connection: close`.
   */
  closeWhere(predicate: (socket: Socket) => boolean): { idle: number; busy: number } {
    const closed = { idle: 0, busy: 0 };
    for (const socket of this.sockets) {
      if (socket.destroyed || !predicate(socket)) continue;
      // HTTP/2: GOAWAY, so the streams in flight finish and no new one starts.
      if (closeSessionOn(socket)) {
        closed.busy++;
        continue;
      }
      const response = currentResponse(socket);
      if (!response) {
        closed.idle++;
        socket.destroy();
        continue;
      }
      closed.busy++;
      closeOnceAnswered(response, socket);
    }
    return closed;
  }

  /** Drain: every connection not answering a request goes now, busy ones after their response. */
  closeAll(): void {
    for (const connection of this.#accepted.values())
      if (connection.http === undefined) cut(connection.raw);
    this.closeWhere(() => true);
  }

  /** The end of drain: whatever is still open is cut. */
  destroyAll(): void {
    for (const connection of this.#accepted.values())
      if (!connection.http || !cutSessionOn(connection.http)) cut(connection.raw);
  }

  #accept(raw: Socket, options: GuardOptions): void {
    if (raw.destroyed) return;
    const pendingFrom = options.tls ? this.#admitAddress(raw, options) : undefined;
    // Node still reports the cut as a TLS client error: `cut` marks it as counted already.
    if (pendingFrom === null) {
      markCutClose(raw);
      return cut(raw);
    }
    const key = addressKey(raw) ?? `unaddressed:${++this.#unaddressed}`;
    const connection: Connection = {
      raw,
      pendingFrom,
      http: undefined,
      stage: options.tls ? "handshake" : "head",
      responses: 0,
      timer: undefined,
    };
    this.#accepted.set(key, connection);
    if (options.tls) {
      markCutClose(raw);
      this.#pending++;
      this.#limitPending(options);
    } else this.#speaksHttp(connection, raw);
    this.#arm(connection, options.deadlines().headers, options);
    raw.once("close", () => {
      clearTimeout(connection.timer);
      this.#accepted.delete(key);
      if (connection.stage === "handshake") this.#handshakeOver(connection, options);
      else this.#limitPending(options);
    });
  }

  /**
   * Counts a new TLS connection against its peer address's pending handshakes: the entry it
   * is counted in, undefined for a peer without an address (never capped), or null when the
   * address is at its limit and the connection must go at once.
   */
  #admitAddress(raw: Socket, options: GuardOptions): AddressPending | undefined | null {
    const address = raw.remoteAddress;
    const limit = options.maxPendingPerAddress?.();
    if (address === undefined || limit === undefined) return undefined;
    let entry = this.#pendingByAddress.get(address);
    if (!entry) this.#pendingByAddress.set(address, (entry = { address, pending: 0, refused: 0 }));
    if (entry.pending >= limit) {
      entry.refused++;
      options.onAddressRefused?.(address, entry.pending, entry.refused);
      return null;
    }
    entry.pending++;
    return entry;
  }

  /** The handshake is done: HTTP starts, still under the deadline armed at accept. */
  #secured(tls: Socket, options: GuardOptions): void {
    const key = addressKey(tls);
    const connection = key === undefined ? undefined : this.#accepted.get(key);
    if (!connection || connection.stage !== "handshake") return;
    connection.stage = "head";
    this.#handshakeOver(connection, options);
    // A peer refused at the handshake is already destroyed; its raw socket's close cleans up.
    if (!tls.destroyed) this.#speaksHttp(connection, tls);
  }

  #speaksHttp(connection: Connection, socket: Socket): void {
    connection.http = socket;
    this.#byHttpSocket.set(socket, connection);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  #handshakeOver(connection: Connection, options: GuardOptions): void {
    this.#addressHandshakeOver(connection, options);
    this.#pending--;
    this.#limitPending(options);
    if (this.#refused === 0 || this.#pending >= (options.maxPending?.() ?? Infinity)) return;
    options.onRecovered?.(this.#refused);
    this.#refused = 0;
  }

  #addressHandshakeOver(connection: Connection, options: GuardOptions): void {
    const entry = connection.pendingFrom;
    connection.pendingFrom = undefined;
    if (!entry || --entry.pending > 0) return;
    this.#pendingByAddress.delete(entry.address);
    if (entry.refused > 0) options.onAddressRecovered?.(entry.address, entry.refused);
  }

  /**
   * Caps pending handshakes with Node's own `maxConnections`, kept at "established +
   * limit": past it Node closes a new connection before any TLS state exists for it and
   * emits `drop`. Refusing later (destroying the accepted socket) would cost the TLS setup
   * a flood is made to exhaust, and count each refusal twice.
   */
  #limitPending(options: GuardOptions): void {
    const limit = options.maxPending?.();
    if (!this.#server || limit === undefined) return;
    this.#server.maxConnections = this.#accepted.size - this.#pending + limit;
  }

  /** A request head arrived: no deadline while it is answered; idle starts after the last response. */
  #request(req: IncomingMessage, res: ServerResponse, options: GuardOptions): void {
    const connection = this.#connectionOf(req.socket);
    if (!connection) return;
    clearTimeout(connection.timer);
    connection.stage = "busy";
    connection.responses++;
    // `on`, not `once`: a response closes once, and this spares a wrapper per request.
    res.on("close", () => {
      if (--connection.responses > 0 || connection.raw.destroyed) return;
      connection.stage = "idle";
      this.#arm(connection, options.deadlines().idle, options);
    });
  }

  #tunnel(req: IncomingMessage): void {
    const connection = this.#connectionOf(req.socket);
    if (!connection) return;
    clearTimeout(connection.timer);
    connection.stage = "busy";
  }

  #connectionOf(socket: Socket): Connection | undefined {
    const connection = this.#byHttpSocket.get(socket);
    if (connection) return connection;
    const key = addressKey(socket);
    return key === undefined ? undefined : this.#accepted.get(key);
  }

  #arm(connection: Connection, ms: number, options: GuardOptions): void {
    clearTimeout(connection.timer);
    if (ms <= 0) return;
    connection.timer = setTimeout(() => this.#expire(connection, options), ms).unref();
  }

  #expire(connection: Connection, options: GuardOptions): void {
    const socket = connection.http ?? connection.raw;
    options.onDeadline(connection.stage, socket);
    if (cutSessionOn(socket)) return;
    if (!socket.writableEnded) cut(connection.raw);
  }
}

/**
 * Both ends of a TCP connection: unique among a listener's open connections, and the same
 * on the raw socket at accept and on the TLS socket Node wraps around it.
 */
function addressKey(socket: Socket): string | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return `${remoteAddress}|${remotePort}|${localAddress ?? ""}|${localPort ?? ""}`;
}

/**
 * For a parser error on a connection that still owes a response (bytes after `Connection:
 * close`, garbage pipelined behind a valid request): a refusal written now would land where
 * the client expects the in-flight response, which the app may already be answering. So
 * nothing is written: reading stops, that response finishes, then the connection closes
 * (RFC 9112 §9.6: nothing after `close` is processed). False when nothing is in flight.
 */
export function closeAfterInFlight(socket: Socket): boolean {
  const response = currentResponse(socket);
  if (!response || response.writableFinished) return false;
  socket.pause();
  closeOnceAnswered(response, socket);
  return true;
}

/**
 * Responses not yet written on each HTTP socket, in request order: Node answers pipelined
 * requests one at a time, so the first is the one being written and the rest wait.
 */
const unfinished = new WeakMap<Socket, ServerResponse[]>();

function trackResponse(req: IncomingMessage, res: ServerResponse): void {
  if (res.writableFinished) return;
  let queue = unfinished.get(req.socket);
  if (!queue) unfinished.set(req.socket, (queue = []));
  queue.push(res);
  const done = () => {
    const at = queue.indexOf(res);
    if (at !== -1) queue.splice(at, 1);
  };
  // Node moves to the next pipelined response on `finish`; `close` covers an abort. Each
  // fires once, and `done` may run twice: `on` spares two wrappers per request.
  res.on("finish", done);
  res.on("close", done);
}

/** The response being written on `socket`, if any (undefined: idle). */
function currentResponse(socket: Socket): ServerResponse | undefined {
  return unfinished.get(socket)?.[0];
}

/** Connections already set to close once their responses are written. */
const closing = new WeakSet<Socket>();

/** Closes `socket` after `response` and any pipelined behind it; scheduled once per socket. */
function closeOnceAnswered(response: ServerResponse, socket: Socket): void {
  if (closing.has(socket)) return;
  closing.add(socket);
  closeAfter(response, socket);
}

function closeAfter(response: ServerResponse, socket: Socket): void {
  response.once("finish", () =>
    // After Node has moved on: a pipelined response still queued keeps the socket busy (its
    // handler answers under the new rules, with `Connection: close`); close after the last.
    setImmediate(() => {
      if (socket.destroyed) return;
      const next = currentResponse(socket);
      if (next === undefined) socket.destroySoon();
      else if (next !== response) closeAfter(next, socket);
    }),
  );
}
