import { defineConfig } from "vitest/config";

/**
 * Two tiers (docs/testing.md). `npm run test:fast` runs the "fast" project, the edit loop;
 * `npm test` runs both. A file is slow when it spends most of its time on wall-clock
 * deadlines, child processes or long end-to-end setups (the figure is its duration on a
 * 2-core machine); keeping the list here, not in file names, keeps files where they are.
 */
const SLOW = [
  "test/probe.test.ts", // spawns the CLI sidecar and runs every probe case: ~20 s
  "test/hostile-sockets.test.ts", // waits out handshake/header/idle deadlines: ~15 s
  "test/telemetry-prometheus.test.ts", // a real Prometheus scraping and evaluating rules
  "test/reload.test.ts", // repeated ..data swaps under load, a child process
  "test/reload-safety.test.ts", // half-written configs raced against the watcher
  "test/fuzz.test.ts", // a fixed-seed fuzz run against a spawned sidecar
  "test/tracing.test.ts", // an OTLP receiver, and a stop against a dead collector
  "test/anomaly.test.ts", // Alertmanager end to end, four tenants, two sidecars
  "test/startup-failure.test.ts", // a child process per failure mode
  "test/drain.test.ts", // drainDelay and a real SIGTERM
  "test/drain-deadline.test.ts", // drain deadlines against hung apps
  "test/demo.test.ts", // the whole demo mesh
  "test/dockerfile.test.ts", // the image's build stage run for real: npm ci, build, prune
  "test/kubernetes-layout.test.ts", // a child process on the shipped config, a real Prometheus
  "test/run-without-node-forge.test.ts", // spawns certs init and run with a module recorder
  "test/admin-page.browser.test.ts", // a real headless Chromium against a sidecar
];

export default defineConfig({
  test: {
    // Hang guards, not speed checks: a loaded 2-core machine runs a test several times slower.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    // Minted once per run; makePki copies from it (test/support/pki.ts).
    globalSetup: ["test/support/global-setup.ts"],
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" },
    projects: [
      {
        extends: true,
        test: { name: "fast", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: SLOW },
      },
      { extends: true, test: { name: "slow", include: SLOW } },
    ],
  },
});
