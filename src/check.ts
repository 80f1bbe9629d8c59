/**
 * `palisade check -c FILE [--format human|json]`: validates the config (schema, every
 * certificate and key) and lints the policy. Exit 0 when clean or only warnings, 1 with
 * error findings (certificate problems included, all of them at once), 2 when the file
 * cannot be read, parsed or validated, so there is nothing to lint.
 */
import { admitConfig, ConfigRefusedError } from "./config/admit.js";
import { ConfigError, loadConfigFile, type LoadedConfig } from "./config/load.js";
import { describeFinding, isError, type Finding } from "./config/lint.js";

export type CheckFormat = "human" | "json";

/** The `--format json` document; its shape is public (CI parses it). */
export interface CheckReport {
  file: string;
  usable: boolean;
  findings: Finding[];
}

export async function runCheck(
  file: string,
  format: CheckFormat,
  now = new Date(),
): Promise<number> {
  const report = await checkConfig(file, now);
  process.stdout.write(formatReport(report, format));
  return checkExitCode(report);
}

/** What `check` prints on stdout for `report`. */
export function formatReport(report: CheckReport, format: CheckFormat): string {
  return format === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatHuman(report);
}

export function checkExitCode(report: CheckReport): 0 | 1 | 2 {
  if (!report.usable) return 2;
  return report.findings.some(isError) ? 1 : 0;
}

export async function checkConfig(file: string, now: Date): Promise<CheckReport> {
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { file, usable: false, findings: err.problems.map(invalidConfig) };
  }
  // The same decision `palisade run` and every reload make: a passing check means it runs.
  try {
    const { findings } = await admitConfig(loaded, { id: 0, now });
    return { file, usable: true, findings };
  } catch (err) {
    if (!(err instanceof ConfigRefusedError)) throw err;
    return { file, usable: true, findings: err.findings };
  }
}

/** `describeIssue` writes `key.path: message`; a YAML syntax error has no path. */
function invalidConfig(problem: string): Finding {
  const match = /^([^\s:]+): (.*)$/s.exec(problem);
  const path = match?.[1];
  const message = match?.[2];
  return path === undefined || message === undefined || path === "(root)"
    ? { level: "error", rule: "invalid_config", message: problem, path: null }
    : { level: "error", rule: "invalid_config", message, path };
}

function formatHuman(report: CheckReport): string {
  const lines = report.findings.map((f) => `${f.level.padEnd(7)} ${describeFinding(f)}`);
  const errors = report.findings.filter(isError).length;
  const warnings = report.findings.length - errors;
  const summary = report.usable
    ? `${report.file}: ${errors} error(s), ${warnings} warning(s)`
    : `${report.file}: unusable config, nothing was linted`;
  return `${[...lines, summary].join("\n")}\n`;
}
