/**
 * `Promise.all` over many items with at most `limit` in flight. A config with ten thousand
 * tenants names thirty thousand files: opened all at once they would exceed the descriptor
 * limit (EMFILE). The reads are synchronous (config/regular-file.ts), so every `limit`
 * items the workers yield to the event loop once: a reload of thousands of tenants
 * interleaves with the requests it serves instead of stalling them for its whole length.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      if (i > 0 && i % limit === 0) await yieldToEventLoop();
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tenants whose files are read at once: three files each, well under any descriptor limit. */
export const TENANT_READ_CONCURRENCY = 64;
