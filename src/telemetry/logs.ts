/**
 * JSON-lines logs: `access` (one line per request, no query strings, no bodies),
 * `audit` (every cross-tenant denial and grant use) and `event` (start, reload,
 * rotation, alert, shutdown). One pino logger, three children told apart by `log`, all
 * writing into one destination so their order is kept: for stdout, stderr or a file, the
 * buffered writer of log-writer.ts, flushed on drain and at exit.
 */
import { resolve } from "node:path";
import { pino, type Logger, type DestinationStream, type Level } from "pino";
import { Counter, type Registry } from "prom-client";
import { LogWriter, type DropNotice } from "./log-writer.js";

export type { Logger } from "pino";

export interface Logs {
  root: Logger;
  access: Logger;
  audit: Logger;
  event: Logger;
  /** The one stream every line goes to, in order; the access line is written straight in. */
  sink: DestinationStream;
  /** The buffered destination, when Palisade opened it (not for a stream it was given). */
  writer: LogWriter | undefined;
}

export interface LogOptions {
  level: string;
  /** `stdout`, `stderr`, or a file path (relative to `baseDir`). */
  destination: string;
  baseDir: string;
  service: string;
}

export function createLogs(options: LogOptions, stream?: DestinationStream): Logs {
  // The writer exists before the loggers; its notices go to the event log once that does.
  const notices: { event?: Logger } = {};
  const onDropping = (notice: DropNotice) => dropNotice(notices.event, notice);
  const writer = stream ? undefined : openWriter(options.destination, options.baseDir, onDropping);
  const sink: DestinationStream = stream ?? (writer as LogWriter);
  const root = pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
  const event = root.child({ log: "event" });
  notices.event = event;
  return {
    root,
    access: root.child({ log: "access" }),
    audit: root.child({ log: "audit" }),
    event,
    sink,
    writer,
  };
}

/**
 * What pino writes before a line's fields: `{"level":"warn"`, the time, and the logger's
 * bindings (`,"service":…,"log":"access"`), read from pino itself so a hand-built line
 * starts exactly as its lines do.
 */
export function lineHead(logger: Logger, level: Level): string {
  const internals = logger as unknown as Record<symbol, unknown>;
  const opening = (internals[pino.symbols.lsCacheSym] as Record<number, string>)[
    logger.levels.values[level] as number
  ] as string;
  return (
    opening + pino.stdTimeFunctions.isoTime() + (internals[pino.symbols.chindingsSym] as string)
  );
}

/**
 * Resolves once every line written so far has reached the destination, or with false
 * after `timeoutMs` (a stalled destination must not hold up the drain).
 */
export function flushLogs(logs: Logs, timeoutMs: number): Promise<boolean> {
  const { writer } = logs;
  if (!writer) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), timeoutMs).unref();
    writer.flush(() => {
      clearTimeout(timer);
      done(true);
    });
  });
}

/** `palisade_log_lines_dropped_total`, read from the writer when scraped. */
export function countDroppedLines(registry: Registry, logs: Logs): Counter {
  let counted = 0;
  return new Counter({
    name: "palisade_log_lines_dropped_total",
    help: "Log lines dropped because the log destination could not keep up or failed: the buffer in front of it is bounded.",
    registers: [registry],
    collect() {
      const dropped = logs.writer?.dropped ?? 0;
      if (dropped > counted) this.inc(dropped - counted);
      counted = dropped;
    },
  });
}

/**
 * A reload's log level: children keep the level they were made with, so each is set. The
 * destination stays the one opened at start.
 */
export function setLogLevel(logs: Logs, level: string): void {
  for (const logger of [logs.root, logs.access, logs.audit, logs.event]) logger.level = level;
}

function openWriter(
  name: string,
  baseDir: string,
  onDropping: (notice: DropNotice) => void,
): LogWriter {
  if (name === "stdout") return new LogWriter(1, { onDropping });
  if (name === "stderr") return new LogWriter(2, { onDropping });
  return new LogWriter(resolve(baseDir, name), { onDropping });
}

function dropNotice(event: Logger | undefined, { dropping, dropped, reason }: DropNotice): void {
  if (dropping)
    event?.warn({ reason, dropped }, "log lines dropped: the log destination cannot keep up");
  else event?.info({ dropped }, "log lines written again after dropping");
}
