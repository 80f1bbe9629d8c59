/**
 * `palisade check` on the shipped example config, on the deliberately bad one, and on files
 * that cannot be used at all: in-process (the function the CLI calls, both output formats
 * and the exit code), plus one smoke test of the real CLI in a child process. Also keeps
 * the committed JSON Schema and the example from going stale.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConfig, checkExitCode, formatReport, type CheckReport } from "../src/check.js";
import { parseConfigText } from "../src/config/load.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLE = "config/example/palisade.yaml";
const BAD = "config/example/bad.yaml";
const SCHEMA = "config/palisade.schema.json";

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node --import tsx src/cli.ts …`: the real CLI from source, without npx's start-up cost. */
function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: ROOT, maxBuffer: 16 * 1024 ** 2 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface Checked {
  code: number;
  report: CheckReport;
  /** What `--format human` prints. */
  human: string;
  /** Everything either format prints: what must never hold a secret. */
  output: string;
}

/** What `palisade check -c FILE [--format json]` prints and exits with, in-process. */
async function check(file: string): Promise<Checked> {
  const report = await checkConfig(file, new Date());
  const json = formatReport(report, "json");
  // The JSON document is the report, nothing lost or added on the way out.
  expect(JSON.parse(json)).toEqual(report);
  const human = formatReport(report, "human");
  return { code: checkExitCode(report), report, human, output: `${json}${human}` };
}

const rulesAt = (report: CheckReport) =>
  report.findings.map((f) => `${f.level} ${f.rule} ${f.path}`);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "palisade-check-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("palisade check", () => {
  it("passes the shipped example (exit 0, no errors)", async () => {
    const { code, report, human } = await check(EXAMPLE);
    expect(report.usable).toBe(true);
    expect(report.findings.filter((f) => f.level === "error")).toEqual([]);
    expect(code).toBe(0);
    expect(human).toMatch(/palisade\.yaml: 0 error\(s\), \d+ warning\(s\)\n$/);
  });

  it("finds every planted problem in bad.yaml (exit 1)", async () => {
    const { code, report, human } = await check(BAD);
    expect(code).toBe(1);
    expect(report).toMatchObject({ file: BAD, usable: true });
    for (const f of report.findings) {
      expect(Object.keys(f).sort()).toEqual(["level", "message", "path", "rule"]);
      expect(f.rule).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
    expect(rulesAt(report)).toEqual(
      expect.arrayContaining([
        "error shared_ca tenants.globex.ca",
        "error cert_san_mismatch tenants.globex.cert",
        "error cert_san_mismatch tenants.initech.cert",
        "error cert_key_mismatch tenants.initech.key",
        "error grant_wildcard_path grants.0.paths.0",
        "error grant_wildcard_write grants.0.paths.0",
        "error grant_unknown_tenant grants.1.from",
        "warning grant_expired grants.2.expires",
        "error grant_duplicate_id grants.3.id",
        "warning grant_wildcard_write grants.3.paths.0",
        "warning grant_write_fields grants.3.fields",
        "warning grant_long_lived grants.3.expires",
        "warning grant_revoked_tenant grants.4.to",
        "error grant_invalid_path grants.4.paths.1",
        "warning inbound_target_missing inbound.target",
        "warning unsigned_tenant_allowed outbound.allowUnsignedTenant",
        "warning upstream_plain_http outbound.upstreams.billing.url",
        "warning upstream_target_missing outbound.upstreams.billing.target",
      ]),
    );
    expect(human).toContain("error   shared_ca (tenants.globex.ca): tenants acme and globex");
  });

  it("calls a file that does not parse unusable (exit 2)", async () => {
    const file = join(scratch, "broken.yaml");
    await writeFile(file, "service: orders\ntenants: [\n");
    const { code, report } = await check(file);
    expect(code).toBe(2);
    expect(report.usable).toBe(false);
    expect(report.findings[0]).toMatchObject({
      level: "error",
      rule: "invalid_config",
      path: null,
    });
  });

  it("calls a schema-invalid file unusable, naming each key path (exit 2)", async () => {
    const file = join(scratch, "invalid.yaml");
    await writeFile(
      file,
      "service: orders\ntrustDomain: mesh.local\ntenants: {}\ninbound: { timeouts: { idle: 5min } }\nbogus: 1\n",
    );
    const { code, report } = await check(file);
    expect(code).toBe(2);
    expect(rulesAt(report).sort()).toEqual([
      "error invalid_config bogus",
      "error invalid_config inbound.timeouts.idle",
    ]);
  });

  it("calls a missing file unusable (exit 2)", async () => {
    const { code, report } = await check(join(scratch, "nope.yaml"));
    expect(code).toBe(2);
    expect(report.findings[0]?.message).toMatch(/cannot read/);
  });

  /** `check` on a file holding `text`. */
  async function checkText(name: string, text: string): Promise<Checked> {
    const file = join(scratch, name);
    await writeFile(file, text);
    return check(file);
  }

  const HEAD = "service: orders\ntrustDomain: mesh.local\n";

  it("check-output-leaks-rejected-secrets: schema errors never print a rejected secret (exit 2)", async () => {
    const cases = {
      "url-without-slashes.yaml": `${HEAD}tenants: {}\nanomaly:\n  alertmanager: "https:am-user:S3CRET1@am.example/"\n  webhook: {url: "https//hook.example/?token=S3CRET3", secret: S3CRET-short}\n`,
      "header-values.yaml": `${HEAD}tenants: {}\ntelemetry:\n  otlp:\n    endpoint: "am-user:S3CRET2@otel.example:4318"\n    headers: {x-honeycomb-team: 123456789012345, x-api: [S3CRET5], authorization:Bearer S3CRET7}\n`,
      "headers-as-string.yaml": `${HEAD}tenants: {}\ntelemetry: {otlp: {endpoint: "https://otel.example/", headers: "authorization=Bearer S3CRET6"}}\n`,
      "alias.yaml": `${HEAD}tenants: {}\ntelemetry: {otlp: {endpoint: "https://otel.example/", headers: {authorization: *S3CRET8}}}\n`,
    };
    const paths: (string | null)[] = [];
    for (const [name, text] of Object.entries(cases)) {
      const { code, report, output } = await checkText(name, text);
      expect(code).toBe(2);
      expect(output).not.toMatch(/S3CRET|123456789012345/);
      paths.push(...report.findings.map((f) => f.path));
    }
    expect(paths).toEqual([
      "anomaly.alertmanager",
      "anomaly.webhook.url",
      "anomaly.webhook.secret",
      "telemetry.otlp.endpoint",
      "telemetry.otlp.headers.x-honeycomb-team",
      "telemetry.otlp.headers.x-api",
      "telemetry.otlp.headers.<redacted>",
      "telemetry.otlp.headers",
      null,
    ]);
  });

  it("inline-key-leaks-in-check: lint findings never print key material or a query (exit 1)", async () => {
    const pem =
      "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIS3CRETKEYMATERIAL0123456789abcdefABCDEF\n-----END PRIVATE KEY-----\n";
    const text = `${HEAD}tenants:\n  acme: {ca: pki/ca.crt, cert: pki/orders.crt, key: ${JSON.stringify(pem)}}\n  globex: {ca: pki/ca.crt, cert: pki/orders.crt, key: pki/orders.key}\ngrants:\n  - {from: acme, to: globex, methods: [GET], paths: ["/orders?access_token=S3CRET9"], fields: ["a..token=S3CRET10"], expires: 2030-01-01T00:00:00Z}\n`;
    const { code, report, output } = await checkText("inline-key.yaml", text);
    expect(code).toBe(1);
    expect(output).not.toMatch(/S3CRET|PRIVATE KEY|MC4CAQ/);
    const at = (path: string) => report.findings.find((f) => f.path === path)?.message;
    expect(at("tenants.acme.key")).toBe(
      `<redacted, ${pem.length} chars>: cannot read (ENOENT: no such file or directory)`,
    );
    // A name that is a name is shown: it says which mounted file is missing.
    expect(at("tenants.globex.key")).toBe(
      "pki/orders.key: cannot read (ENOENT: no such file or directory)",
    );
    expect(at("grants.0.paths.0")).toMatch(/path <redacted, 28 chars> is not a valid path glob/);
    expect(at("grants.0.fields")).toMatch(/invalid projection field <redacted, 17 chars>/);
  });

  it("fifo-in-config-hangs-check: a FIFO named as a CA is refused without being opened (exit 1)", async () => {
    // Read from, it would block a thread until a writer came, and the CLI could never exit.
    const fifo = join(scratch, "ca.fifo");
    execFileSync("mkfifo", [fifo]);
    const text = `${HEAD}tenants:\n  acme: {ca: ca.fifo, cert: pki/orders.crt, key: pki/orders.key}\n`;
    const { code, report } = await checkText("fifo.yaml", text);
    expect(code).toBe(1);
    expect(report.findings.find((f) => f.path === "tenants.acme.ca")?.message).toBe(
      "ca.fifo: cannot read (not a regular file)",
    );
    const config = await check(fifo);
    expect(config.code).toBe(2);
    expect(config.human).toMatch(/not a regular file/);
  });

  it("the CLI: exit codes, both formats on stdout, nothing on stderr, and the schema", async () => {
    const [human, json, unusable, schema] = await Promise.all([
      cli(["check", "-c", BAD]),
      cli(["check", "-c", EXAMPLE, "--format", "json"]),
      cli(["check", "-c", join(scratch, "nope.yaml")]),
      cli(["schema"]),
    ]);
    expect(human).toMatchObject({ code: 1, stderr: "" });
    expect(human.stdout).toContain(
      "error   shared_ca (tenants.globex.ca): tenants acme and globex",
    );
    expect(human.stdout).toMatch(/bad\.yaml: \d+ error\(s\), \d+ warning\(s\)\n$/);
    expect(json).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(json.stdout)).toMatchObject({ file: EXAMPLE, usable: true });
    expect(unusable).toMatchObject({ code: 2, stderr: "" });
    expect(unusable.stdout).toMatch(/unusable config, nothing was linted\n$/);
    expect(schema.code).toBe(0);
    // If this fails: npm run build && npm run schema, then commit config/palisade.schema.json.
    expect(await readFile(join(ROOT, SCHEMA), "utf8")).toBe(schema.stdout);
  });
});

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
};

describe("the example config", () => {
  it("validates against the committed JSON Schema and the config schema", async () => {
    const text = await readFile(join(ROOT, EXAMPLE), "utf8");
    const schema = JSON.parse(await readFile(join(ROOT, SCHEMA), "utf8")) as JsonSchema;
    const fromJson = z.fromJSONSchema(schema);
    expect(fromJson.safeParse(parse(text)).error?.issues).toBeUndefined();
    expect(() => parseConfigText(text, EXAMPLE)).not.toThrow();
    // And the JSON Schema is strict, so the check above means something.
    expect(fromJson.safeParse({ ...parse(text), bogus: 1 }).success).toBe(false);
  });

  it("sets every key the schema knows, so it documents them all", async () => {
    const schema = JSON.parse(await readFile(join(ROOT, SCHEMA), "utf8")) as JsonSchema;
    const example = parse(await readFile(join(ROOT, EXAMPLE), "utf8")) as unknown;
    expect(missingKeys(schema, example)).toEqual([]);
  });
});

/**
 * Schema keys the value never sets. A shape used in several places (a target rule, the
 * timeouts) counts as covered when any of its uses sets the key; a record or a list must
 * have at least one entry, which is walked.
 */
function missingKeys(root: JsonSchema, value: unknown): string[] {
  const known = new Map<string, string>();
  const seen = new Set<string>();
  const walk = (schema: JsonSchema, at: string, v: unknown) => {
    const shape = JSON.stringify(schema);
    for (const key of Object.keys(schema.properties ?? {})) {
      const id = `${shape}\0${key}`;
      if (!known.has(id)) known.set(id, `${at}.${key}`);
    }
    if (typeof v !== "object" || v === null) return;
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      const child = (v as Record<string, unknown>)[key];
      if (child === undefined) continue;
      seen.add(`${shape}\0${key}`);
      walk(sub, `${at}.${key}`, child);
    }
    const each =
      typeof schema.additionalProperties === "object" ? schema.additionalProperties : schema.items;
    if (each === undefined) return;
    const entries = Object.entries(v);
    if (entries.length === 0) known.set(`${shape}\0*`, `${at}.*`);
    for (const [key, child] of entries) walk(each, `${at}.${key}`, child);
  };
  walk(root, "", value);
  return [...known].filter(([id]) => !seen.has(id)).map(([, path]) => path.slice(1));
}
