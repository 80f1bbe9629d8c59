import type { Server } from "node:net";

/** `host:port` and `[v6]:port` listen addresses. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(colon + 1)) };
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
