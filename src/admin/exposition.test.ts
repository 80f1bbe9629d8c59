import { describe, expect, it } from "vitest";
import { prefersOpenMetrics } from "./exposition.js";

describe("prefersOpenMetrics", () => {
  it.each([
    [undefined, false],
    ["", false],
    ["*/*", false],
    ["text/plain", false],
    ["application/openmetrics-text", true],
    // Prometheus 2.x/3.x default scrape Accept.
    [
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      true,
    ],
    ["text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5", false],
    ["application/openmetrics-text;q=0", false],
    ["application/openmetrics-text;q=bogus", false],
    ["Application/OpenMetrics-Text; Version=1.0.0", true],
    ["text/*;q=0.9,application/openmetrics-text;q=0.8", false],
  ])("%j → %s", (accept, expected) => {
    expect(prefersOpenMetrics(accept)).toBe(expected);
  });
});
