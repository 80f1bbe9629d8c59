/**
 * Graceful drain: stop accepting, give in-flight requests a deadline, cut every socket,
 * flush. Readiness has already failed when it starts (the caller's first step), and every
 * response not yet started says `Connection: close`. Traffic listeners stop accepting after
 * `drainDelay`; control listeners keep answering (`/readyz` 503) until the very end.
 */
import { once } from "node:events";
import type { Config } from "../config/schema.js";
import type { InFlight } from "../proxy/in-flight.js";
import { flushLogs, type Logs } from "../telemetry/logs.js";
import { closeNow, type Listener } from "./listener-set.js";
import type { Reloader } from "./reloader.js";

/**
 * How long queued alerts get to reach Alertmanager after the drain. Short: a dead receiver
 * must not push the pod past its termination grace period.
 */
export const ALERT_FLUSH_MS = 2_000;

/** How long the buffered log lines get to reach their destination; exit writes what is left. */
export const LOG_FLUSH_MS = 2_000;

export interface DrainParts {
  config: Pick<Config, "drainDelay" | "drainTimeout">;
  listeners: readonly Listener[];
  inFlight: InFlight;
  reloader: Reloader;
  logs: Logs;
  /**
   * Closes what the listeners share (pools, alert delivery, tracing) within `alertFlushMs`;
   * called once no client connection is left, so anything still open has no one to answer.
   */
  closeShared(alertFlushMs: number): Promise<void>;
}

export async function drain(parts: DrainParts): Promise<void> {
  const { config, inFlight, logs } = parts;
  const { drainDelay, drainTimeout } = config;
  inFlight.startDraining();
  parts.reloader.close();
  logs.event.info({ inFlight: inFlight.size, drainDelay, drainTimeout }, "draining");
  if (drainDelay > 0) await new Promise((r) => setTimeout(r, drainDelay).unref());
  const traffic = parts.listeners.filter((l) => l.role === "traffic");
  const closed = traffic.map(stopAccepting);
  logs.event.info({ inFlight: inFlight.size }, "listeners closed");
  const deadline = performance.now() + drainTimeout;
  await inFlight.waitIdle(drainTimeout);
  const cut = inFlight.size;
  for (const { server, connections } of traffic) {
    server.closeAllConnections();
    connections.destroyAll();
  }
  await Promise.all(closed);
  if (!(await parts.reloader.settled(deadline - performance.now())))
    logs.event.warn({}, "reload still running at the end of drain; abandoned");
  await parts.closeShared(ALERT_FLUSH_MS);
  await Promise.all(parts.listeners.filter((l) => l.role === "control").map(closeNow));
  logs.event.info({ cut }, "stopped");
  await flushLogs(logs, LOG_FLUSH_MS);
}

/**
 * No new connection; idle ones, and those still in their handshake or yet to send a head,
 * are cut now, so nothing keeps `close` waiting but requests in flight.
 */
function stopAccepting({ server, connections }: Listener): Promise<unknown> {
  const done = once(server, "close");
  server.close();
  server.closeIdleConnections();
  connections.closeAll();
  return done;
}
