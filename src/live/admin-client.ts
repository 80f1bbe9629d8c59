/**
 * What `palisade top` and `palisade tap` need of the admin listener: its address from
 * `--admin`, `/top` as JSON, and `/events` as a stream of parsed events.
 */
import { request } from "undici";
import { UsageError } from "../cli/flags.js";
import type { RequestEvent } from "./event.js";
import type { TopRow } from "./stats.js";

export const DEFAULT_ADMIN = "http://127.0.0.1:15000";

export interface TopSnapshot {
  time: string;
  windowSeconds: number;
  rows: TopRow[];
}

export function adminUrl(value: string | undefined): URL {
  let url: URL;
  try {
    url = new URL(value ?? DEFAULT_ADMIN);
  } catch {
    throw new UsageError(`--admin must be a URL such as ${DEFAULT_ADMIN}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`--admin must be an http URL, not ${JSON.stringify(url.protocol)}`);
  return url;
}

export async function fetchTop(admin: URL, signal?: AbortSignal): Promise<TopSnapshot> {
  const res = await request(new URL("top", withSlash(admin)), {
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
    ...(signal ? { signal } : {}),
  });
  if (res.statusCode !== 200)
    throw new Error(`${res.statusCode} from /top: ${await res.body.text()}`);
  return (await res.body.json()) as TopSnapshot;
}

/** Yields each event of `/events?…` until the stream ends. */
export async function* streamEvents(
  admin: URL,
  query: URLSearchParams,
): AsyncGenerator<RequestEvent> {
  const url = new URL("events", withSlash(admin));
  url.search = query.toString();
  // No body timeout: a quiet stream is normal (the server sends a comment every 15 s anyway).
  const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 0 });
  if (res.statusCode !== 200)
    throw new Error(`${res.statusCode} from /events: ${await res.body.text()}`);
  let buffered = "";
  res.body.setEncoding("utf8");
  for await (const chunk of res.body as AsyncIterable<string>) {
    buffered += chunk;
    let end;
    while ((end = buffered.indexOf("\n\n")) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6));
      if (data.length > 0) yield JSON.parse(data.join("\n")) as RequestEvent;
    }
  }
}

/** `http://host:port/prefix` and `…/prefix/` both mean the same admin root. */
function withSlash(url: URL): URL {
  const copy = new URL(url);
  if (!copy.pathname.endsWith("/")) copy.pathname += "/";
  return copy;
}
