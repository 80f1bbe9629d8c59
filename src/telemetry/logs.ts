/**
 * JSON-lines logs: `access` (one line per request, no query strings, no bodies),
 * `audit` (every cross-tenant denial and grant use) and `event` (start, reload,
 * rotation, alert, shutdown). One pino logger, three children told apart by `log`.
 */
import { resolve } from "node:path";
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

export interface Logs {
  root: Logger;
  access: Logger;
  audit: Logger;
  event: Logger;
}

export interface LogOptions {
  level: string;
  /** `stdout`, `stderr`, or a file path (relative to `baseDir`). */
  destination: string;
  baseDir: string;
  service: string;
}

export function createLogs(options: LogOptions, stream?: DestinationStream): Logs {
  const destination = stream ?? destinationFor(options.destination, options.baseDir);
  const root = pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    root,
    access: root.child({ log: "access" }),
    audit: root.child({ log: "audit" }),
    event: root.child({ log: "event" }),
  };
}

/**
 * A reload's log level: children keep the level they were made with, so each is set. The
 * destination stays the one opened at start.
 */
export function setLogLevel(logs: Logs, level: string): void {
  for (const logger of [logs.root, logs.access, logs.audit, logs.event]) logger.level = level;
}

function destinationFor(name: string, baseDir: string): DestinationStream {
  if (name === "stdout") return pino.destination({ fd: 1, sync: false });
  if (name === "stderr") return pino.destination({ fd: 2, sync: false });
  return pino.destination({ dest: resolve(baseDir, name), mkdir: true, sync: false });
}
