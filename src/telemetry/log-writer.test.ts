/**
 * The buffered log destination against real files, a real FIFO whose reader stops, and
 * real child processes that exit in every way a process does.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { LogWriter, type DropNotice } from "./log-writer.js";

const dir = mkdtempSync(join(tmpdir(), "palisade-log-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const freshFile = () => join(dir, `log-${String(++files)}.jsonl`);
const lines = (n: number, from = 0, width = 100) =>
  Array.from(
    { length: n },
    (_, i) => `line ${String(from + i).padStart(6, "0")} `.padEnd(width, "x") + "\n",
  );

async function until<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("LogWriter: batching", () => {
  it("writes nothing per line; a flush writes every line, in order", async () => {
    const file = freshFile();
    const writer = new LogWriter(file, { flushMs: 60_000 });
    const sent = lines(50);
    for (const line of sent) expect(writer.write(line)).toBe(true);
    // Three threadpool round trips: a write issued per line would have landed by now.
    for (let i = 0; i < 3; i++) await stat(file);
    expect(readFileSync(file, "utf8")).toBe("");
    await new Promise<void>((done) => writer.flush(done));
    expect(readFileSync(file, "utf8")).toBe(sent.join(""));
    writer.close();
  });

  it("writes a batch once it passes flushChars, without waiting for the timer", async () => {
    const file = freshFile();
    const writer = new LogWriter(file, { flushMs: 60_000, flushChars: 1_000 });
    const sent = lines(15);
    for (const line of sent) writer.write(line);
    // The tenth line passed 1 000 characters: those ten are written, the rest wait.
    const written = await until(() => readFileSync(file, "utf8") || false, "the first batch");
    expect(written).toBe(sent.slice(0, 10).join(""));
    writer.close();
    expect(readFileSync(file, "utf8")).toBe(sent.join(""));
  });

  it("writes a small batch within flushMs of its first line", async () => {
    const file = freshFile();
    const writer = new LogWriter(file, { flushMs: 20 });
    writer.write("one line\n");
    expect(await until(() => readFileSync(file, "utf8") || false, "the timer's write")).toBe(
      "one line\n",
    );
    writer.close();
  });
});

describe("LogWriter: a destination that cannot keep up", () => {
  it("stops growing at maxChars, counts what it drops, says so once, and resumes", async () => {
    const fifo = join(dir, "stalled.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // Read-write and non-blocking: the pipe has a reader that never reads until told to.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const notices: DropNotice[] = [];
    const maxChars = 64 * 1024;
    const writer: LogWriter = new LogWriter(fd, {
      flushChars: 4_096,
      flushMs: 5,
      maxChars,
      noticeMs: 60_000,
      onDropping: (notice) => {
        notices.push(notice);
        writer.write(`notice ${String(notice.dropping)} ${String(notice.dropped)}\n`);
      },
    });
    const flood = lines(5_000);
    const accepted = flood.filter((line) => writer.write(line));
    expect(accepted.length * 100).toBeLessThanOrEqual(maxChars);
    expect(writer.dropped).toBe(flood.length - accepted.length);
    expect(notices).toEqual([{ dropping: true, dropped: 1, reason: "buffer_full" }]);

    let read = "";
    const chunk = Buffer.alloc(1 << 16);
    const drain = () => {
      try {
        for (let n; (n = readSync(reader, chunk)) > 0;) read += chunk.toString("utf8", 0, n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    };
    await until(() => {
      drain();
      return notices.length === 2;
    }, "the resume notice");
    expect(notices[1]).toEqual({ dropping: false, dropped: writer.dropped, reason: "" });
    await until(() => {
      drain();
      return read.endsWith(`notice false ${String(writer.dropped)}\n`);
    }, "every accepted line");
    // Every accepted line, in order, then the notices; no dropped line.
    expect(read).toBe(
      accepted.join("") + `notice true 1\nnotice false ${String(writer.dropped)}\n`,
    );

    // A second stall within noticeMs: counted, but no second pair of notices.
    const before = writer.dropped;
    const again = lines(5_000, 5_000).filter((line) => !writer.write(line)).length;
    expect(again).toBeGreaterThan(0);
    expect(writer.dropped).toBe(before + again);
    expect(notices).toHaveLength(2);
    writer.close();
    closeSync(reader);
    closeSync(fd);
  });

  it("counts the lines of a batch the destination refused, and keeps going", async () => {
    const file = freshFile();
    closeSync(openSync(file, "w"));
    const readOnly = openSync(file, "r");
    const notices: DropNotice[] = [];
    const writer = new LogWriter(readOnly, { onDropping: (n) => notices.push(n) });
    for (const line of lines(7)) writer.write(line);
    await new Promise<void>((done) => writer.flush(done));
    expect(writer.dropped).toBe(7);
    expect(notices).toEqual([{ dropping: true, dropped: 7, reason: "EBADF" }]);
    writer.close();
    closeSync(readOnly);
  });
});

const MODULE = fileURLToPath(new URL("./log-writer.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A child that writes one line and then ends as `how` says; resolves with the file's text. */
async function lastLine(how: "exit" | "throw" | "return"): Promise<string> {
  const file = freshFile();
  const end = { exit: "process.exit(0);", throw: 'throw new Error("fatal");', return: "" }[how];
  const script = `
    const { LogWriter } = await import(${JSON.stringify(MODULE)});
    const writer = new LogWriter(${JSON.stringify(file)}, { flushMs: 60000 });
    writer.write("the last line\\n");
    ${end}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "ignore"],
  });
  await new Promise((done) => child.once("exit", done));
  return readFileSync(file, "utf8");
}

describe("LogWriter: at exit", () => {
  it("writes a line buffered just before process.exit, an uncaught exception, or the loop's end", async () => {
    const [exited, thrown, returned] = await Promise.all([
      lastLine("exit"),
      lastLine("throw"),
      lastLine("return"),
    ]);
    expect({ exited, thrown, returned }).toEqual({
      exited: "the last line\n",
      thrown: "the last line\n",
      returned: "the last line\n",
    });
  });
});
