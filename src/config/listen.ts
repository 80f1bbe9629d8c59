import type { Server } from "node:net";

/** `host:port` and `[v6]:port` listen addresses. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(colon + 1)) };
}

/** Binds `server` to a `host:port` listen address; rejects on EADDRINUSE and the like. */
export function listenOn(server: Server, listen: string): Promise<void> {
  const { host, port } = parseListen(listen);
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
