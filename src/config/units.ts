/**
 * Durations ("500ms", "30s", "5m", "1h") and sizes ("64Ki", "16Mi", "1Gi", "512").
 * Exact grammar, no floats, no whitespace: a config typo must be an error, not a guess.
 */

const DURATION = /^(\d{1,9})(ms|s|m|h)$/;
const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const unit = match[2] as keyof typeof DURATION_MS;
  return Number(match[1]) * DURATION_MS[unit];
}

const SIZE = /^(\d{1,12})(Ki|Mi|Gi)?$/;
const SIZE_BYTES = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 } as const;

/** Bytes, or undefined when `text` is not a size. */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (!match) return undefined;
  const unit = match[2] as keyof typeof SIZE_BYTES | undefined;
  return Number(match[1]) * (unit ? SIZE_BYTES[unit] : 1);
}
