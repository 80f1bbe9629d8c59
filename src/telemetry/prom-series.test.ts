/**
 * Series observed in place must render exactly what prom-client's own child objects would:
 * the same buckets (a value on a bound, above the last one), sums, counts and series, across
 * a registry reset and over values observed before the series was resolved.
 */
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CounterSeries, HistogramSeries } from "./prom-series.js";

const BOUNDS = [0.001, 0.01, 0.1, 1];
const LABELS = { tenant: "acme", code: "200" };
const OTHER = { tenant: "globex", code: "503" };
const VALUES = [0, 0.0005, 0.001, 0.002, 0.01, 0.5, 1, 7, 1e9];

function metrics() {
  const registry = new Registry();
  const histogram = new Histogram({
    name: "h_seconds",
    help: "h",
    labelNames: ["tenant", "code"],
    buckets: BOUNDS,
    registers: [registry],
  });
  const counter = new Counter({
    name: "c_total",
    help: "c",
    labelNames: ["tenant", "code"],
    registers: [registry],
  });
  return { registry, histogram, counter };
}

describe("series observed in place", () => {
  it("render exactly as prom-client's children", async () => {
    const mine = metrics();
    const theirs = metrics();
    // Values observed through the public API first: a series must keep them.
    theirs.histogram.labels(LABELS).observe(0.05);
    mine.histogram.labels(LABELS).observe(0.05);
    const series = [LABELS, OTHER].map((labels) => ({
      histogram: new HistogramSeries(mine.histogram, labels, BOUNDS),
      counter: new CounterSeries(mine.counter, labels),
      labels,
    }));
    for (const value of VALUES)
      for (const s of series) {
        s.histogram.observe(value);
        s.counter.inc();
        theirs.histogram.labels(s.labels).observe(value);
        theirs.counter.labels(s.labels).inc();
      }
    expect(await mine.registry.metrics()).toBe(await theirs.registry.metrics());
    expect(await mine.registry.metrics()).toContain(
      'h_seconds_bucket{le="0.001",tenant="acme",code="200"} 3',
    );
  });

  it("follow a registry reset, and skip a non-finite value instead of throwing", async () => {
    const mine = metrics();
    const theirs = metrics();
    const histogram = new HistogramSeries(mine.histogram, LABELS, BOUNDS);
    const counter = new CounterSeries(mine.counter, LABELS);
    histogram.observe(0.5);
    counter.inc();
    mine.registry.resetMetrics();
    histogram.observe(Number.NaN);
    histogram.observe(0.002);
    counter.inc();
    theirs.histogram.labels(LABELS).observe(0.002);
    theirs.counter.labels(LABELS).inc();
    expect(await mine.registry.metrics()).toBe(await theirs.registry.metrics());
  });
});
