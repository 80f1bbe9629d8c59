import { isIP, isIPv6, type Server } from "node:net";

export const MAX_PORT = 65_535;

/** `host:port` and `[v6]:port` listen addresses. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(colon + 1)) };
}

const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The host of a listen address is an IP (bracketed when v6) or a DNS name `listen()` resolves. */
export function isListenHost(listen: string): boolean {
  const raw = listen.slice(0, listen.lastIndexOf(":"));
  if (raw.startsWith("[")) return isIPv6(raw.slice(1, -1));
  return isIP(raw) === 4 || (DNS_NAME.test(raw) && !/^[0-9.]+$/.test(raw));
}

/** `::` binds every address of both families (Node listens dual-stack). */
const ANY_HOSTS: ReadonlySet<string> = new Set(["::", "0:0:0:0:0:0:0:0"]);

/**
 * Two listen addresses that cannot both bind: the same fixed port on the same host, on `::`
 * and anything, or on `0.0.0.0` and an IPv4 address. Port 0 picks a free port, so never
 * conflicts; a host name's family is unknown until it resolves, so only `::` conflicts
 * with one for certain.
 */
export function listenConflict(a: string, b: string): boolean {
  const x = parseListen(a);
  const y = parseListen(b);
  if (x.port === 0 || x.port !== y.port) return false;
  const [hx, hy] = [x.host.toLowerCase(), y.host.toLowerCase()];
  if (hx === hy || ANY_HOSTS.has(hx) || ANY_HOSTS.has(hy)) return true;
  const v4Wildcard = (h: string, other: string) => h === "0.0.0.0" && isIP(other) === 4;
  return v4Wildcard(hx, hy) || v4Wildcard(hy, hx);
}

/**
 * A listener could not bind (EADDRINUSE, EACCES, an address not on this host): the
 * environment refused the config, so `palisade run` exits 1 rather than 2.
 */
export class ListenError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly listener: string,
    readonly address: string,
    cause: Error & { code?: string },
  ) {
    super(`cannot listen on ${address} (${listener}): ${cause.code ?? cause.message}`, { cause });
    this.code = cause.code;
  }
}

/** Binds `server` to a `host:port` listen address; rejects on EADDRINUSE and the like. */
export function listenOn(server: Server, listen: string, listener = "listener"): Promise<void> {
  const { host, port } = parseListen(listen);
  return new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(new ListenError(listener, listen, err));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}
