/**
 * The one destination the access, audit and event logs share, so their order is kept. A
 * line is appended to a buffer; the buffer is written by one asynchronous `fs.write` at a
 * time, once it passes `flushChars` or `flushMs` after its first line (one unref'd timer
 * per period, never one per line). A request never waits for the disk or a full pipe, and
 * a busy sidecar makes one write per batch instead of one per line.
 *
 * Bounded: when the destination cannot keep up (a stopped reader, a full pipe), the buffer
 * stops at `maxChars` and further lines are dropped and counted until it has drained to
 * half of that. `onDropping` hears when dropping starts and stops (the start at most once
 * per `noticeMs`), and the line it writes is let past the cap so the gap is explained.
 *
 * Not SonicBoom (pino.destination with minLength/maxLength), which came close: its append
 * re-measures the whole pending string per line (Buffer.byteLength over a growing
 * string), its periodic flush issues an empty write every period even when idle, its
 * `flushSync` retries EAGAIN forever (an exit that hangs on a stopped pipe), and pino's
 * wrapper re-emits any write error but EPIPE as an 'error' event nobody handles: a crash.
 */
import { mkdirSync, openSync, closeSync, write, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface DropNotice {
  /** True when dropping starts, false when lines are written again. */
  dropping: boolean;
  /** Lines dropped since the last notice that stopped dropping. */
  dropped: number;
  /** `buffer_full`, or the code of the write error that lost lines. */
  reason: string;
}

export interface LogWriterOptions {
  flushChars?: number;
  flushMs?: number;
  maxChars?: number;
  noticeMs?: number;
  onDropping?: (notice: DropNotice) => void;
}

/** A batch size that keeps syscalls rare without holding much: about 60 access lines. */
const FLUSH_CHARS = 32 * 1024;
const FLUSH_MS = 100;
/** What a stalled destination may hold in memory: seconds of a busy sidecar's lines. */
const MAX_CHARS = 4 * 1024 * 1024;
const NOTICE_MS = 10_000;
/** How soon a write the destination refused with EAGAIN is tried again. */
const RETRY_MS = 50;
/** An asynchronous write in flight this long means the destination has stalled. */
const STALL_MS = 1_000;
/** At exit, how long a non-blocking destination may answer EAGAIN before lines are given up. */
const EXIT_RETRY_MS = 200;

const open = new Set<LogWriter>();
let exitHooked = false;

/** At exit the event loop is gone: what is still buffered is written synchronously. */
function hookExit(writer: LogWriter): void {
  open.add(writer);
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const w of open) w.flushSync();
  });
}

export class LogWriter {
  #dropped = 0;
  readonly #fd: number;
  readonly #ownsFd: boolean;
  readonly #flushChars: number;
  readonly #flushMs: number;
  readonly #maxChars: number;
  readonly #noticeMs: number;
  readonly #onDropping: ((notice: DropNotice) => void) | undefined;
  #pending = "";
  #pendingLines = 0;
  /** The batch in flight (the part not yet written), its lines, and when it started. */
  #writing: Buffer | undefined;
  #writingLines = 0;
  #writingSince = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushNow = false;
  #waiters: Array<() => void> = [];
  /** Over the cap: lines are dropped until the buffer has drained to half of it. */
  #full = false;
  #dropping = false;
  #admitting = false;
  #unreported = 0;
  #lastNotice = -Infinity;
  #noticed = false;
  #closed = false;

  /** `fd` (1, 2) is written, never closed; a path is opened for appending, its directory made. */
  constructor(destination: number | string, options: LogWriterOptions = {}) {
    if (typeof destination === "number") {
      this.#fd = destination;
      this.#ownsFd = false;
    } else {
      mkdirSync(dirname(destination), { recursive: true });
      this.#fd = openSync(destination, "a");
      this.#ownsFd = true;
    }
    this.#flushChars = options.flushChars ?? FLUSH_CHARS;
    this.#flushMs = options.flushMs ?? FLUSH_MS;
    this.#maxChars = options.maxChars ?? MAX_CHARS;
    this.#noticeMs = options.noticeMs ?? NOTICE_MS;
    this.#onDropping = options.onDropping;
    hookExit(this);
  }

  /** Lines dropped since start: `palisade_log_lines_dropped_total` reads this. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends one line (newline included). False when it was dropped. */
  write(line: string): boolean {
    if (this.#closed) return false;
    if (!this.#admitting && (this.#full || this.#buffered() + line.length > this.#maxChars)) {
      this.#full = true;
      this.#drop(1, "buffer_full");
      return false;
    }
    this.#pending += line;
    this.#pendingLines++;
    if (this.#writing) return true;
    if (this.#pending.length >= this.#flushChars) this.#startWrite();
    else this.#timer ??= setTimeout(this.#onTimer, this.#flushMs).unref();
    return true;
  }

  /** Writes what is buffered now; `done` once nothing is buffered or in flight. */
  flush(done?: () => void): void {
    if (done) this.#waiters.push(done);
    if (this.#writing) this.#flushNow = true;
    else if (this.#pending.length > 0) this.#startWrite();
    else this.#settle();
  }

  /**
   * The exit path: writes what is buffered with blocking writes. A batch already in flight
   * belongs to the thread writing it; if it has been stuck for long, the destination has
   * stalled and writing more would only hang the exit, so the rest is given up.
   */
  flushSync(): void {
    if (this.#closed || this.#pending.length === 0) return;
    if (this.#writing && performance.now() - this.#writingSince > STALL_MS) return;
    const batch = Buffer.from(this.#pending);
    this.#pending = "";
    this.#pendingLines = 0;
    writeAllSync(this.#fd, batch);
  }

  /** Final: writes what is left synchronously and closes a file it opened. */
  close(): void {
    this.flushSync();
    this.#closed = true;
    open.delete(this);
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#ownsFd && !this.#writing) closeSync(this.#fd);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (!this.#writing && this.#pending.length > 0) this.#startWrite();
  };

  #startWrite(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#flushNow = false;
    this.#writing = Buffer.from(this.#pending);
    this.#writingLines = this.#pendingLines;
    this.#writingSince = performance.now();
    this.#pending = "";
    this.#pendingLines = 0;
    this.#writeSome();
  }

  #writeSome(): void {
    const batch = this.#writing as Buffer;
    write(this.#fd, batch, 0, batch.length, null, this.#written);
  }

  readonly #written = (err: NodeJS.ErrnoException | null, n: number): void => {
    const batch = this.#writing as Buffer;
    if (this.#closed) {
      this.#writing = undefined;
      if (this.#ownsFd) closeSync(this.#fd);
    } else if (err?.code === "EAGAIN") {
      setTimeout(() => this.#writeSome(), RETRY_MS).unref();
    } else if (!err && n < batch.length) {
      this.#writing = batch.subarray(n);
      this.#writeSome();
    } else {
      this.#writing = undefined;
      // Lost to a write error (EPIPE, ENOSPC, EIO): counted, and the next batch is tried.
      if (err) this.#drop(this.#writingLines, err.code ?? "write_error");
      else this.#caughtUp();
      this.#next();
    }
  };

  #caughtUp(): void {
    if (this.#buffered() > this.#maxChars / 2) return;
    this.#full = false;
    if (this.#dropping) this.#resume();
  }

  /** After a batch: the next one now if it is big or a flush waits, else within `flushMs`. */
  #next(): void {
    const size = this.#pending.length;
    if (size >= this.#flushChars || (this.#flushNow && size > 0)) this.#startWrite();
    else if (size > 0) this.#timer ??= setTimeout(this.#onTimer, this.#flushMs).unref();
    else this.#settle();
  }

  #buffered(): number {
    return this.#pending.length + (this.#writing?.length ?? 0);
  }

  #settle(): void {
    if (this.#writing || this.#pending.length > 0) return;
    for (const done of this.#waiters.splice(0)) done();
  }

  #drop(lines: number, reason: string): void {
    this.#dropped += lines;
    this.#unreported += lines;
    if (this.#dropping) return;
    this.#dropping = true;
    const now = performance.now();
    this.#noticed = now - this.#lastNotice >= this.#noticeMs;
    if (!this.#noticed) return;
    this.#lastNotice = now;
    this.#notify({ dropping: true, dropped: this.#unreported, reason });
  }

  #resume(): void {
    this.#dropping = false;
    if (!this.#noticed) return;
    this.#notify({ dropping: false, dropped: this.#unreported, reason: "" });
    this.#unreported = 0;
  }

  /** The notice's own line is let past the cap: it says why lines are missing. */
  #notify(notice: DropNotice): void {
    this.#admitting = true;
    try {
      this.#onDropping?.(notice);
    } finally {
      this.#admitting = false;
    }
  }
}

/** Blocking writes to the end; EAGAIN (a non-blocking pipe that is full) is waited out briefly. */
function writeAllSync(fd: number, batch: Buffer): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = performance.now() + EXIT_RETRY_MS;
  let offset = 0;
  while (offset < batch.length) {
    try {
      offset += writeSync(fd, batch, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN" || performance.now() > deadline) return;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}
