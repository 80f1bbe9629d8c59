/** The response shape the cache takes from `fetch()` and hands back to the proxy. */
import type { Readable } from "node:stream";

/** Lower-case names, as Node's http module and undici deliver them. */
export type HeaderRecord = Record<string, string | string[] | undefined>;

export interface UpstreamResponse {
  statusCode: number;
  headers: HeaderRecord;
  body: Readable;
}
