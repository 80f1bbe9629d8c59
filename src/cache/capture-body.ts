/**
 * The tee between an upstream body and the client: every chunk is passed on as soon as it
 * arrives (the client never waits for the cache) and copied aside until the body is complete
 * or turns out not to be storable.
 */
import { Transform, pipeline, type Readable } from "node:stream";

export type AbandonReason = "too_large" | "error";

export interface CaptureHandlers {
  /** The whole body arrived intact; called once, before the client has necessarily read it all. */
  complete(body: Buffer): void;
  /** The copy was given up: the body outgrew `limit`, or either side failed or went away. */
  abandon(reason: AbandonReason): void;
}

/**
 * Returns the stream to send to the client. Destroying it (client gone) destroys `source`
 * (the upstream request is not kept alive for the cache's sake); an upstream error or abort
 * destroys it with that error, so the proxy sees a truncated body as an error, not an end.
 */
export function captureBody(source: Readable, limit: number, handlers: CaptureHandlers): Readable {
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  let settled = false;
  const abandon = (reason: AbandonReason): void => {
    chunks = undefined;
    if (settled) return;
    settled = true;
    handlers.abandon(reason);
  };
  const tap = new Transform({
    transform(chunk: Buffer | string, encoding, callback) {
      if (chunks) {
        const buffer = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
        size += buffer.length;
        if (size > limit) abandon("too_large");
        else chunks.push(buffer);
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (chunks && !settled) {
        const body = Buffer.concat(chunks, size);
        chunks = undefined;
        settled = true;
        handlers.complete(body);
      }
      callback();
    },
  });
  pipeline(source, tap, (err) => {
    if (err) abandon("error");
  });
  return tap;
}
