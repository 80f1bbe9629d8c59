/**
 * Reads one sample out of a Prometheus text exposition by its exact label set, whatever
 * order the labels were written in (prom-client puts default labels first on some metrics
 * and last on others).
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const found = [...line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)]
      .map((m) => [m[1] as string, m[2] as string] as const)
      .sort(([a], [b]) => a.localeCompare(b));
    if (JSON.stringify(found) === wanted)
      return Number(
        line
          .slice(close + 1)
          .trim()
          .split(" ")[0],
      );
  }
  return undefined;
}
