/**
 * Which upstream failures happened before a connection existed. Only those prove that not
 * one byte of the request left, so only those may be retried on another endpoint whatever
 * the method and body (outbound/failover.ts). undici reports a connector's error to every
 * request that waited on it, unchanged, so the error object itself carries the mark.
 */
import { buildConnector } from "undici";

const connectFailures = new WeakSet<object>();

/** A connector like undici's own, marking each error it reports as a connect failure. */
export function markingConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (target, callback) =>
    connect(target, (...args) => {
      const [err] = args;
      if (err) connectFailures.add(err);
      callback(...args);
    });
}

/** Marks a failure raised before any connection was asked for (the call never started). */
export function markConnectFailure<E extends object>(err: E): E {
  connectFailures.add(err);
  return err;
}

/** True for an error (or a refusal caused by one) that a connector reported. */
export function isConnectFailure(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  if (connectFailures.has(err)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return typeof cause === "object" && cause !== null && connectFailures.has(cause);
}
