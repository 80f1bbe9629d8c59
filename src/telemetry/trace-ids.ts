/**
 * Trace and span ids, random as the SDK's own generator makes them (hex of Math.random
 * words, never all zero), with one addition: the trace id of the next root span can be
 * chosen beforehand. The request path decides a root request's sampling on a trace id it
 * draws itself; when that request is sampled, the SDK's span must carry that same id.
 */
const BUFFER = Buffer.allocUnsafe(16);

function randomId(bytes: number): string {
  for (let i = 0; i < bytes; i += 4) BUFFER.writeUInt32BE((Math.random() * 2 ** 32) >>> 0, i);
  let zero = true;
  for (let i = 0; i < bytes && zero; i++) zero = BUFFER[i] === 0;
  if (zero) BUFFER[bytes - 1] = 1;
  return BUFFER.toString("hex", 0, bytes);
}

export class TraceIds {
  #next: string | undefined;

  /** The id the next generateTraceId returns (once), instead of a random one. */
  presetTraceId(traceId: string): void {
    this.#next = traceId;
  }

  generateTraceId(): string {
    const preset = this.#next;
    this.#next = undefined;
    return preset ?? randomId(16);
  }

  generateSpanId(): string {
    return randomId(8);
  }
}
