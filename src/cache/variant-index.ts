/**
 * Per-partition index from a URL (primary key) to its stored variants. A lookup has only the
 * request, not the response's `Vary`, so it asks which `Vary` name lists are stored for the
 * URL and tries one secondary key per list (almost always exactly one). Invalidation of a URL
 * uses the key set to drop every variant without scanning the partition.
 */
import type { CachedResponse } from "./stored-response.js";

interface UrlVariants {
  readonly keys: Set<string>;
  /** `Vary` names joined by "," → the names and how many stored entries use them. */
  readonly shapes: Map<string, { names: readonly string[]; count: number }>;
}

export class VariantIndex {
  readonly #urls = new Map<string, UrlVariants>();

  add(key: string, entry: CachedResponse): void {
    let url = this.#urls.get(entry.primary);
    if (!url) this.#urls.set(entry.primary, (url = { keys: new Set(), shapes: new Map() }));
    if (url.keys.has(key)) return;
    url.keys.add(key);
    const shape = entry.varyNames.join(",");
    const existing = url.shapes.get(shape);
    if (existing) existing.count++;
    else url.shapes.set(shape, { names: entry.varyNames, count: 1 });
  }

  remove(key: string, entry: CachedResponse): void {
    const url = this.#urls.get(entry.primary);
    if (!url?.keys.delete(key)) return;
    const shape = entry.varyNames.join(",");
    const existing = url.shapes.get(shape);
    if (existing && --existing.count === 0) url.shapes.delete(shape);
    if (url.keys.size === 0) this.#urls.delete(entry.primary);
  }

  shapes(primary: string): readonly (readonly string[])[] {
    const url = this.#urls.get(primary);
    return url ? [...url.shapes.values()].map((s) => s.names) : [];
  }

  /** A copy: callers delete while iterating. */
  keys(primary: string): string[] {
    return [...(this.#urls.get(primary)?.keys ?? [])];
  }
}
