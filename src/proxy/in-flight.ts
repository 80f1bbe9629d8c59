/**
 * The requests a listener pair is answering, for graceful drain: once draining, every
 * response not yet started says `Connection: close`, and drain can wait for the last one.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";

export class InFlight {
  readonly #responses = new Set<ServerResponse>();
  #draining = false;
  #idle: (() => void) | undefined;

  get size(): number {
    return this.#responses.size;
  }

  /** The same handler, counted. */
  wrap(handler: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      this.#responses.add(res);
      if (this.#draining) res.shouldKeepAlive = false;
      res.on("close", this.#closed);
      handler(req, res);
    };
  }

  /** One listener for every response (called with the response as `this`), not one per request. */
  readonly #closed = ((inFlight: InFlight) =>
    function closed(this: ServerResponse): void {
      inFlight.#responses.delete(this);
      if (inFlight.#responses.size === 0) inFlight.#idle?.();
    })(this);

  /** From now on keep-alive clients are told to close. */
  startDraining(): void {
    this.#draining = true;
    for (const res of this.#responses) if (!res.headersSent) res.shouldKeepAlive = false;
  }

  /** Resolves when nothing is in flight, or after `timeout` ms, whichever is first. */
  waitIdle(timeout: number): Promise<void> {
    if (this.#responses.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeout);
      this.#idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
