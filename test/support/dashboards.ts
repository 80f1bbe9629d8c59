/**
 * Reading the PromQL out of the shipped Grafana dashboards, and making it runnable
 * against a plain Prometheus by substituting Grafana's variables.
 */
import { readFileSync } from "node:fs";

export interface DashboardExpression {
  /** Panel title, prefixed by its row's title when it sits in a row. */
  panel: string;
  expr: string;
}

interface Panel {
  title?: string;
  type?: string;
  panels?: Panel[];
  targets?: { expr?: unknown }[];
}

/** Every target `expr` of every panel, rows and collapsed rows included, in file order. */
export function dashboardExpressions(file: string): DashboardExpression[] {
  const dashboard = JSON.parse(readFileSync(file, "utf8")) as { panels?: Panel[] };
  const found: DashboardExpression[] = [];
  let row: string | undefined;
  const visit = (panel: Panel, rowTitle: string | undefined): void => {
    const title = panel.title ?? "(untitled)";
    const name = rowTitle === undefined ? title : `${rowTitle} / ${title}`;
    for (const target of panel.targets ?? []) {
      if (typeof target.expr === "string" && target.expr.trim() !== "") {
        found.push({ panel: name, expr: target.expr });
      }
    }
    // A collapsed row keeps its panels inside it; an open row is followed by them.
    for (const child of panel.panels ?? []) visit(child, title);
  };
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === "row") {
      row = panel.title;
      visit(panel, undefined);
    } else {
      visit(panel, row);
    }
  }
  return found;
}

/** What the dashboard variables stand for: "All", as a regex. */
const DASHBOARD_VARIABLES: Record<string, string> = { tenant: ".*", workload: ".*" };

/** Grafana's built-in interval and range variables, at the values the tests use. */
const BUILTIN_VARIABLES: Record<string, string> = {
  __rate_interval: "1m",
  __interval: "1m",
  __interval_ms: "60000",
  __range: "5m",
  __range_s: "300",
  __range_ms: "300000",
};

/**
 * Replaces `$name`, `${name}` and `${name:format}` with the value of a dashboard
 * variable (`tenant`, `workload`: ".*", so matchers must use `=~`) or a built-in
 * (`$__rate_interval`, `$__interval`: 1m, `$__range`: 5m). Throws on any other variable,
 * so that a typo cannot reach Prometheus as a literal.
 */
export function substituteGrafanaVariables(
  expr: string,
  values: Record<string, string> = {},
): string {
  const all = { ...BUILTIN_VARIABLES, ...DASHBOARD_VARIABLES, ...values };
  return expr.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? "";
      const value = all[name];
      if (value === undefined) throw new Error(`unknown Grafana variable ${match} in: ${expr}`);
      return value;
    },
  );
}
