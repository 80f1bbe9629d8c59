/**
 * The shipped Prometheus rules and Grafana dashboards: promtool accepts the rules and
 * their unit tests pass, every dashboard query parses in a real Prometheus, and
 * dashboards and rules only use metric names from DESIGN.md's Telemetry table.
 * Whether the queries return data is the end-to-end test's job.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { dashboardExpressions, substituteGrafanaVariables } from "./support/dashboards.js";
import { findBinary, startPrometheus, type RunningPrometheus } from "./support/prometheus.js";
import { CI, DESIGN_METRICS } from "./support/design.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const rulesDir = join(root, "config", "prometheus");
const RULES = join(rulesDir, "palisade-rules.yml");
const RULE_TESTS = join(rulesDir, "palisade-rules.test.yml");
const EXAMPLE_CONFIG = join(rulesDir, "prometheus.example.yml");
const DASHBOARDS = ["palisade-fleet.json", "palisade-isolation.json"].map((f) =>
  join(root, "dashboards", f),
);

const HISTOGRAMS = [
  "palisade_request_duration_seconds",
  "palisade_request_bytes",
  "palisade_response_bytes",
];

function isKnownMetric(name: string): boolean {
  // A histogram is only ever queried through its series.
  if (HISTOGRAMS.includes(name)) return false;
  if (DESIGN_METRICS.includes(name)) return true;
  return HISTOGRAMS.some((h) => ["_bucket", "_sum", "_count"].some((s) => name === h + s));
}

/** Metric names in a PromQL expression; `a:palisade_b:c` recording-rule names are not. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])palisade_[a-z0-9_]+(?![\w:])/g)].map((m) => m[0]);
}

const promtool = findBinary(["promtool"]);
const prometheus = findBinary(["prometheus"]);

function required(binary: string | undefined, name: string): string {
  if (binary === undefined) {
    throw new Error(
      `${name} not found on PATH, and CI is set: install it (Debian/Ubuntu: apt-get install prometheus)`,
    );
  }
  return binary;
}

for (const [binary, name] of [
  [promtool, "promtool"],
  [prometheus, "prometheus"],
] as const) {
  if (binary === undefined && !CI) {
    console.warn(`rules.test: ${name} not on PATH, skipping its tests (with CI set they fail)`);
  }
}

interface RunResult {
  code: number;
  output: string;
}

function run(binary: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile(binary, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolveRun({ code, output: `${binary} ${args.join(" ")}\n${stdout}${stderr}` });
    });
  });
}

describe.skipIf(promtool === undefined && !CI)("promtool", () => {
  it("accepts the rules", async () => {
    const { code, output } = await run(
      required(promtool, "promtool"),
      ["check", "rules", RULES],
      rulesDir,
    );
    expect(code, output).toBe(0);
  });

  it("passes the rules' unit tests", async () => {
    const { code, output } = await run(
      required(promtool, "promtool"),
      ["test", "rules", RULE_TESTS],
      rulesDir,
    );
    expect(code, output).toBe(0);
  });

  it("accepts the example Prometheus config", async () => {
    const bin = required(promtool, "promtool");
    const first = await run(bin, ["check", "config", EXAMPLE_CONFIG], rulesDir);
    if (first.code === 0) return;
    // Debian builds Prometheus without Kubernetes service discovery. Check everything
    // else in a copy that discovers from a static list instead.
    expect(first.output, first.output).toMatch(/kubernetes_sd_configs not found/);
    const dir = await mkdtemp(join(tmpdir(), "palisade-promconfig-"));
    try {
      const config = parse(await readFile(EXAMPLE_CONFIG, "utf8")) as {
        scrape_configs: Record<string, unknown>[];
      };
      for (const job of config.scrape_configs) {
        if (job["kubernetes_sd_configs"] === undefined) continue;
        delete job["kubernetes_sd_configs"];
        job["static_configs"] = [{ targets: ["10.0.0.1:8080"] }];
      }
      await writeFile(join(dir, "prometheus.yml"), stringify(config));
      await copyFile(RULES, join(dir, "palisade-rules.yml"));
      const second = await run(bin, ["check", "config", join(dir, "prometheus.yml")], dir);
      expect(second.code, second.output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe("alerting rules", () => {
  const groups = (parse(readFileSync(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups;
  const rules = groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r) => r.alert !== undefined);

  it.each(alerts.map((a) => [a.alert, a] as const))(
    "%s has for, severity, summary, description",
    (_, alert) => {
      expect(alert.for).toMatch(/^\d+[smh]$/);
      expect(["warning", "critical"]).toContain(alert.labels?.["severity"]);
      expect(alert.annotations?.["summary"]).toBeTruthy();
      expect(alert.annotations?.["description"]).toBeTruthy();
    },
  );

  it("has a firing and a quiet unit test case for every alert", () => {
    const tests = parse(readFileSync(RULE_TESTS, "utf8")) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} never fires`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} never quiet`,
      ).toBe(true);
    }
  });

  it("only uses metric names from DESIGN.md", () => {
    const unknown = rules.flatMap((r) => metricNames(r.expr).filter((n) => !isKnownMetric(n)));
    expect(unknown).toEqual([]);
  });
});

interface Dashboard {
  schemaVersion: number;
  templating: { list: Record<string, unknown>[] };
  panels: { id?: number; datasource?: unknown; panels?: unknown[] }[];
}

describe.each(DASHBOARDS.map((file) => [basename(file), file]))("dashboard %s", (_, file) => {
  const dashboard = JSON.parse(readFileSync(file, "utf8")) as Dashboard;
  const expressions = dashboardExpressions(file);
  const variables = new Map(dashboard.templating.list.map((v) => [v["name"], v]));

  it("is a current schema with expressions in it", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(38);
    expect(expressions.length).toBeGreaterThan(0);
  });

  it("has a Prometheus datasource variable that every panel uses", () => {
    expect(variables.get("datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    const walk = (panels: Dashboard["panels"]): Dashboard["panels"] =>
      panels.flatMap((p) => [p, ...walk((p.panels ?? []) as Dashboard["panels"])]);
    const all = walk(dashboard.panels);
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size, "panel ids are unique").toBe(ids.length);
    for (const panel of all.filter((p) => p.datasource !== undefined)) {
      expect(panel.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
    }
  });

  it("has multi-value tenant and workload variables with All", () => {
    expect(variables.get("tenant")).toMatchObject({
      type: "query",
      multi: true,
      includeAll: true,
      definition: "label_values(palisade_requests_total, tenant)",
    });
    expect(variables.get("workload")).toMatchObject({
      type: "query",
      multi: true,
      includeAll: true,
    });
  });

  it("matches variables with =~ only, so that All and multi-select work", () => {
    for (const { panel, expr } of expressions) {
      const rest = expr.replace(/=~"\$(tenant|workload)"/g, "");
      expect(rest, `${panel}: ${expr}`).not.toMatch(/\$\{?(tenant|workload)\b/);
    }
  });

  it("only uses metric names from DESIGN.md", () => {
    const unknown = expressions.flatMap(({ panel, expr }) =>
      metricNames(expr)
        .filter((n) => !isKnownMetric(n))
        .map((n) => `${panel}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });
});

describe.skipIf(prometheus === undefined && !CI)("dashboard queries parse in Prometheus", () => {
  let server: RunningPrometheus | undefined;
  beforeAll(async () => {
    required(prometheus, "prometheus");
    server = await startPrometheus({ scrapeTargets: [] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  for (const file of DASHBOARDS) {
    for (const { panel, expr } of dashboardExpressions(file)) {
      it(`${basename(file)} / ${panel}: ${expr.replace(/\s+/g, " ")}`, async () => {
        if (server === undefined) throw new Error("prometheus did not start");
        // query() throws with Prometheus's parse error when the status is not "success".
        const result = await server.query(substituteGrafanaVariables(expr));
        expect(Array.isArray(result)).toBe(true);
      });
    }
  }
});

describe("substituteGrafanaVariables", () => {
  it("replaces dashboard and built-in variables and refuses unknown ones", () => {
    expect(
      substituteGrafanaVariables(
        'increase(m{tenant=~"${tenant}", workload=~"$workload"}[$__rate_interval]) + m[$__range] + m[$__interval]',
      ),
    ).toBe('increase(m{tenant=~".*", workload=~".*"}[1m]) + m[5m] + m[1m]');
    expect(() => substituteGrafanaVariables('m{pod=~"$pod"}')).toThrow(
      /unknown Grafana variable \$pod/,
    );
  });
});
