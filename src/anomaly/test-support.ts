/**
 * Fakes shared by this folder's tests: a logger and metrics that remember their calls,
 * and a complete anomaly config. Not used by production code.
 */
import type { AnomalyConfig } from "../config/schema.js";
import type { AlertLogger, AnomalyMetrics } from "./sinks.js";

export const BASE_CONFIG: AnomalyConfig = {
  window: 60_000,
  threshold: 3,
  probeTargets: 5,
  quietPeriod: 120_000,
  baselineFactor: 3,
  queueSize: 100,
};

export function recordingLogger(): AlertLogger & {
  lines: { level: string; obj: object; msg: string }[];
} {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    info: (obj, msg) => lines.push({ level: "info", obj, msg }),
  };
}

export function recordingMetrics(): AnomalyMetrics & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    alertFired: (tenant, kind) => calls.push(`fired ${tenant} ${kind}`),
    setActive: (tenant, kind, value) => calls.push(`active ${tenant} ${kind} ${value}`),
  };
}
