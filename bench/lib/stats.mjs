/** Small helpers shared by the sections. */

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** " (errors: {...})" when a load run saw any socket error or non-2xx/3xx answer. */
export function errorNote(result) {
  const e = result.errors;
  const total = e.connect + e.read + e.write + e.status + e.timeout;
  return total > 0 ? ` (errors: ${JSON.stringify(e)})` : "";
}
