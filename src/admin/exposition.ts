/**
 * `/metrics` in the format the scraper asked for: Prometheus text by default, OpenMetrics
 * when `Accept` prefers `application/openmetrics-text` (Prometheus itself asks for it
 * first). One registry holds the metrics; an OpenMetrics scrape renders the same metric
 * objects through a throw-away OpenMetrics registry.
 */
import { Registry, type Metric, type OpenMetricsContentType } from "prom-client";

export interface Exposition {
  contentType: string;
  body: string;
}

const OPENMETRICS = "application/openmetrics-text";
const PROMETHEUS_TEXT = "text/plain";

export async function renderMetrics(
  registry: Registry,
  accept: string | undefined,
  defaultLabels: Record<string, string> = {},
): Promise<Exposition> {
  if (!prefersOpenMetrics(accept))
    return { contentType: registry.contentType, body: await registry.metrics() };
  const view = new Registry<OpenMetricsContentType>();
  view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  // The registry's own default labels (`workload`) are applied when it renders, not by the
  // metrics: the view must carry them too.
  view.setDefaultLabels(defaultLabels);
  for (const metric of registry.getMetricsAsArray())
    view.registerMetric(openMetricsView(metric as unknown as RenderableMetric));
  return { contentType: view.contentType, body: await view.metrics() };
}

/** What prom-client's registry reads of a metric at runtime (its typings say less). */
interface RenderableMetric {
  name: string;
  help: string;
  type: string;
  get(): Promise<{ name: string }>;
}

/**
 * prom-client's OpenMetrics rendering renames a counter in place (`x_total` → `x`), which
 * would break every later Prometheus-text scrape of the shared metric object. The view
 * carries the family name instead and leaves the metric alone.
 */
function openMetricsView(metric: RenderableMetric): Metric {
  const { help, type } = metric;
  const family = (name: string) => (type === "counter" ? name.replace(/_total$/, "") : name);
  const view = {
    name: family(metric.name),
    help,
    type,
    get: async () => {
      const data = await metric.get();
      return { ...data, name: family(data.name) };
    },
  };
  return view as unknown as Metric;
}

/**
 * True when `Accept` ranks OpenMetrics at least as high as Prometheus text (RFC 9110
 * q-values; a range with q=0 is refused). No header or `*\/*` alone: Prometheus text.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(",")) {
    const [type = "", ...params] = range.split(";").map((s) => s.trim().toLowerCase());
    const q = qValue(params);
    if (type === OPENMETRICS) openMetrics = Math.max(openMetrics, q);
    else if (type === PROMETHEUS_TEXT || type === "text/*") text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}

function qValue(params: string[]): number {
  const q = params.find((p) => p.startsWith("q="));
  if (q === undefined) return 1;
  const value = Number(q.slice(2));
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : 0;
}
