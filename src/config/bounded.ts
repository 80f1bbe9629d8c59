/**
 * `Promise.all` over many items with at most `limit` in flight. A config with ten thousand
 * tenants names thirty thousand files: opened all at once they exceed the descriptor limit
 * (EMFILE), and the reads only queue behind libuv's four threads anyway.
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
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Tenants whose files are read at once: three files each, well under any descriptor limit. */
export const TENANT_READ_CONCURRENCY = 64;
