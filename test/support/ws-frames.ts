/**
 * Just enough RFC 6455 framing to speak WebSocket over a stream no library will wrap (an
 * RFC 8441 HTTP/2 stream): masked client frames out, unmasked server frames in.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";

export const OP_TEXT = 0x1;
export const OP_CLOSE = 0x8;

/** One final client frame, masked as RFC 6455 §5.3 requires of clients. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error("test frames stay under 126 bytes");
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Collects the server's frames from `stream` as they complete. */
export class FrameReader {
  readonly frames: ServerFrame[] = [];
  #buffered = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(stream: Duplex) {
    stream.on("data", (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#parse();
    });
  }

  /** The next frame not yet taken, within `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<ServerFrame> {
    if (this.frames.length === 0)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no WebSocket frame in time")), timeoutMs);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    return this.frames.shift() as ServerFrame;
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffered;
      if (b.length < 2) return;
      let length = (b[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) throw new Error("test frames stay small");
      if (b.length < offset + length) return;
      this.frames.push({
        opcode: (b[0] as number) & 0x0f,
        payload: b.subarray(offset, offset + length),
      });
      this.#buffered = b.subarray(offset + length);
      for (const wake of this.#waiters.splice(0)) wake();
    }
  }
}
