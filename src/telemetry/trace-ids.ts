/**
 * Trace and span ids, random as the SDK's own generator makes them (hex of Math.random
 * words, never all zero, lower case), with one addition: the trace id of the next root span can be
 * chosen beforehand. The request path decides a root request's sampling on a trace id it
 * draws itself; when that request is sampled, the SDK's span must carry that same id.
 */
/** Two hex digits per byte value: an id is joined from these, with no Buffer round trip. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function randomId(bytes: number): string {
  let id = "";
  let zero = true;
  for (let i = 0; i < bytes; i += 4) {
    const word = (Math.random() * 2 ** 32) >>> 0;
    if (word !== 0) zero = false;
    id += `${HEX[word >>> 24] as string}${HEX[(word >>> 16) & 255] as string}`;
    id += `${HEX[(word >>> 8) & 255] as string}${HEX[word & 255] as string}`;
  }
  // All zero is an invalid id in W3C and B3: the SDK's generator sets the last byte then.
  return zero ? `${id.slice(0, -2)}01` : id;
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
