/**
 * `palisade check -c FILE [--format human|json]`: validates the config (schema, every
 * certificate and key) and lints the policy. Exit 0 when clean or only warnings, 1 with
 * error findings (certificate problems included, all of them at once), 2 when the file
 * cannot be read, parsed or validated, so there is nothing to lint.
 */
import { buildGeneration } from "./config/generation.js";
import { ConfigError, loadConfigFile, type LoadedConfig } from "./config/load.js";
import { lintConfig, type Finding } from "./config/lint.js";

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
  process.stdout.write(
    format === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatHuman(report),
  );
  if (!report.usable) return 2;
  return report.findings.some((f) => f.level === "error") ? 1 : 0;
}

export async function checkConfig(file: string, now: Date): Promise<CheckReport> {
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { file, usable: false, findings: err.problems.map(invalidConfig) };
  }
  const findings = await lintConfig({ config: loaded.config, baseDir: loaded.baseDir, now });
  if (findings.some((f) => f.level === "error")) return { file, usable: true, findings };
  const refused = await generationRefusal(loaded, now);
  return { file, usable: true, findings: refused ? [refused, ...findings] : findings };
}

/**
 * The loader is the final word on what `palisade run` accepts. Lint reports every
 * certificate problem it knows, and more than the loader (which stops at the first); this
 * catches what lint does not (a grant the table refuses, a key TLS cannot use), so that a
 * passing check always means the config loads. Skipped when lint already failed: the
 * loader stops at its first problem, which is almost always one lint has just reported.
 */
async function generationRefusal(loaded: LoadedConfig, now: Date): Promise<Finding | undefined> {
  try {
    await buildGeneration(loaded, 0, now);
    return undefined;
  } catch (err) {
    // TenantMaterialError and GrantConfigError name the key path, and repeat it in the message.
    const keyPath = (err as { keyPath?: unknown }).keyPath;
    const path = typeof keyPath === "string" ? keyPath : null;
    const message = (err as Error).message;
    const bare =
      path !== null && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
    return { level: "error", rule: "config_refused", message: bare, path };
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
  const lines = report.findings.map(
    (f) => `${f.level.padEnd(7)} ${f.rule}${f.path === null ? "" : ` (${f.path})`}: ${f.message}`,
  );
  const errors = report.findings.filter((f) => f.level === "error").length;
  const warnings = report.findings.length - errors;
  const summary = report.usable
    ? `${report.file}: ${errors} error(s), ${warnings} warning(s)`
    : `${report.file}: unusable config, nothing was linted`;
  return `${[...lines, summary].join("\n")}\n`;
}
