/**
 * The sidecar's listeners as one list: composition binds them, reload reconfigures them,
 * drain closes them. A listener is either on the traffic path (it stops accepting when drain
 * starts) or a control listener (it keeps answering, `/readyz` 503 included, until drain
 * ends). Adding one is one more entry here and in composition.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Config } from "../config/schema.js";
import { listenOn } from "../config/listen.js";
import type { ConnectionSet } from "../proxy/connections.js";
import type { ListenerName } from "../proxy/listeners.js";

export interface Listener {
  readonly name: ListenerName;
  readonly server: Server;
  readonly connections: ConnectionSet;
  /** Traffic listeners close when drain starts; control listeners when it ends. */
  readonly role: "traffic" | "control";
  /** Where it binds; read once, at start (listen addresses do not reload). */
  address(config: Config): string;
}

/** Binds every listener; every bind has settled before a failure is reported. */
export async function listenAll(listeners: readonly Listener[], config: Config): Promise<void> {
  const results = await Promise.allSettled(
    listeners.map((l) => listenOn(l.server, l.address(config), l.name)),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

export function addressesOf(listeners: readonly Listener[]): Record<ListenerName, AddressInfo> {
  return Object.fromEntries(
    listeners.map((l) => [l.name, l.server.address() as AddressInfo]),
  ) as Record<ListenerName, AddressInfo>;
}

/** Connections each listener holds open, whatever their stage (handshake included). */
export async function openConnections(
  listeners: readonly Listener[],
): Promise<Record<ListenerName, number>> {
  const counts = await Promise.all(
    listeners.map(
      (l) =>
        new Promise<[ListenerName, number]>((resolve, reject) =>
          l.server.getConnections((err, n) => (err ? reject(err) : resolve([l.name, n]))),
        ),
    ),
  );
  return Object.fromEntries(counts) as Record<ListenerName, number>;
}

/** Stops accepting and cuts every connection, whatever its stage; resolves once closed. */
export async function closeNow(listener: Listener): Promise<void> {
  const { server, connections } = listener;
  if (!server.listening) return;
  const closed = once(server, "close");
  server.close();
  server.closeAllConnections();
  connections.destroyAll();
  await closed;
}
