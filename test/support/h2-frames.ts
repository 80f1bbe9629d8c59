/**
 * Raw HTTP/2 over TLS, for frames Node's client will not send (rapid resets, CONTINUATION
 * floods, connection-specific headers, HPACK references that decode past a limit). Minimal
 * encoders: HPACK literals without Huffman, and the frame header of RFC 9113 §4.1.
 */
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";

export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  GOAWAY: 0x7,
  CONTINUATION: 0x9,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR = {
  PROTOCOL_ERROR: 0x1,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits. */
function integer(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function literal(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([integer(bytes.length, 7, 0), bytes]);
}

/** Literal field without indexing, new name (RFC 7541 §6.2.2). */
export function field(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), literal(name), literal(value)]);
}

/** Literal field with incremental indexing, new name: it enters the dynamic table at 62. */
export function indexedField(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), literal(name), literal(value)]);
}

/** A reference to table entry `index` (62 is the newest dynamic entry). */
export function reference(index: number): Buffer {
  return integer(index, 7, 0x80);
}

/** A GET's pseudo-headers and `extra` fields, as one header block. */
export function requestBlock(
  path: string,
  authority: string,
  extra: [string, string][] = [],
): Buffer {
  return Buffer.concat([
    field(":method", "GET"),
    field(":scheme", "https"),
    field(":path", path),
    field(":authority", authority),
    ...extra.map(([n, v]) => field(n, v)),
  ]);
}

export interface ParsedFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** An HTTP/2 connection with a frame reader: everything the server sent, in order. */
export class RawH2 {
  readonly frames: ParsedFrame[] = [];
  closed = false;
  #buffer = Buffer.alloc(0);

  private constructor(readonly socket: TLSSocket) {
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    socket.on("error", () => {});
    socket.on("close", () => (this.closed = true));
  }

  /** Connects with ALPN h2, sends the preface and an empty SETTINGS, ACKs the server's. */
  static open(port: number, options: ConnectionOptions): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = connect(
        {
          host: "127.0.0.1",
          port,
          ALPNProtocols: ["h2"],
          checkServerIdentity: () => undefined,
          ...options,
        },
        () => {
          if (socket.alpnProtocol !== "h2") return reject(new Error("h2 not negotiated"));
          socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
          socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
          resolve(new RawH2(socket));
        },
      );
      socket.once("error", reject);
    });
  }

  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  goaway(): ParsedFrame | undefined {
    return this.frames.find((f) => f.type === FRAME.GOAWAY);
  }

  /** RST_STREAM frames received, as [stream, error code]. */
  resets(): [number, number][] {
    return this.frames
      .filter((f) => f.type === FRAME.RST_STREAM)
      .map((f) => [f.stream, f.payload.readUInt32BE(0)]);
  }

  close(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) return;
      this.frames.push({
        type: this.#buffer[3] as number,
        flags: this.#buffer[4] as number,
        stream: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: this.#buffer.subarray(9, 9 + length),
      });
      this.#buffer = this.#buffer.subarray(9 + length);
    }
  }
}
