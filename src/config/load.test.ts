import { describe, expect, it } from "vitest";
import type { ConfigError } from "./load.js";
import { parseConfigText } from "./load.js";

const MINIMAL =
  "service: orders\ntrustDomain: mesh.local\ntenants:\n  acme: {ca: a, cert: b, key: c}\n";

function problems(text: string): string[] {
  try {
    parseConfigText(text, "palisade.yaml");
  } catch (err) {
    return (err as ConfigError).problems;
  }
  return [];
}

describe("parseConfigText", () => {
  it("fills defaults and parses units", () => {
    const config = parseConfigText(MINIMAL, "palisade.yaml");
    expect(config.inbound.listen).toBe("0.0.0.0:15006");
    expect(config.inbound.timeouts.headers).toBe(10_000);
    expect(config.tenants["acme"]?.cache.maxBytes).toBe(16 * 1024 ** 2);
  });

  it("names the key path and the bad value", () => {
    expect(problems(`${MINIMAL}inbound: {timeouts: {headers: 5sec}}\n`)).toEqual([
      'inbound.timeouts.headers: expected a duration like 500ms, 30s, 5m (got "5sec")',
    ]);
    // Whitespace separates `Bearer` from a token: a value with any is not echoed.
    expect(problems(`${MINIMAL}inbound: {timeouts: {headers: 5 s}}\n`)).toEqual([
      "inbound.timeouts.headers: expected a duration like 500ms, 30s, 5m (got <redacted, 3 chars>)",
    ]);
  });

  it("rejects unknown keys, nested ones too", () => {
    expect(problems(`${MINIMAL}bogus: 1\n`)).toEqual(["bogus: unknown key"]);
    expect(problems(MINIMAL.replace("key: c}", "key: c, extra: 1}"))).toEqual([
      "tenants.acme.extra: unknown key",
    ]);
  });

  it("rejects tenant ids that are not DNS labels, never normalising them", () => {
    expect(problems(MINIMAL.replace("acme:", "ACME:"))[0]).toMatch(/^tenants\.ACME: invalid key/);
  });

  it("rejects duplicate keys and YAML syntax errors", () => {
    expect(problems(`${MINIMAL}service: again\n`)[0]).toMatch(/unique/);
    expect(problems("[1, 2")).toHaveLength(1);
  });

  it("rejects a grant from a tenant to itself", () => {
    const grant =
      "grants:\n  - {from: acme, to: acme, methods: [GET], paths: [/x], expires: 2030-01-01T00:00:00Z}\n";
    expect(problems(`${MINIMAL}${grant}`)).toEqual([
      'grants.0.to: a grant must cross tenants (got "acme")',
    ]);
  });

  it("bounds projection memory by default and refuses a budget below one document", () => {
    expect(parseConfigText(MINIMAL, "palisade.yaml").projection).toEqual({
      maxBytes: 1024 ** 2,
      maxBufferedBytes: 64 * 1024 ** 2,
    });
    expect(problems(`${MINIMAL}projection: {maxBytes: 2Mi, maxBufferedBytes: 1Mi}\n`)[0]).toMatch(
      /^projection\.maxBufferedBytes: must be at least projection\.maxBytes/,
    );
  });

  it("rejected-url-in-error-shows-credentials: a refused URL is not shown at all", () => {
    const [problem] = problems(
      `${MINIMAL}anomaly: {alertmanager: "ftp://am:hunter2@am.example/?token=t0k3n"}\n`,
    );
    expect(problem).toBe(
      "anomaly.alertmanager: expected an http(s) URL (got <redacted, 40 chars>)",
    );
  });

  const anomaly = (alertmanager: string) =>
    `${MINIMAL}anomaly: {alertmanager: ${JSON.stringify(alertmanager)}}\n`;
  const otlpHeaders = (headers: string) =>
    `${MINIMAL}telemetry: {otlp: {endpoint: "https://otel.example/v1/traces", headers: ${headers}}}\n`;

  it("url-without-slashes-leaks-userinfo-in-error: a rejected URL is never echoed", () => {
    for (const url of [
      "https:am-user:S3CRET1@am.example/",
      "am-user:S3CRET2@am.example:9093",
      "https//hook.example/?token=S3CRET3",
      "https:/am-user:S3CRET4@am.example/?token=S3CRET4",
      "ftp://am:S3CRET5@am.example/?token=S3CRET5",
    ]) {
      const [problem] = problems(anomaly(url));
      expect(problem).toBe(
        `anomaly.alertmanager: expected an http(s) URL (got <redacted, ${url.length} chars>)`,
      );
    }
    const [webhook] = problems(
      `${MINIMAL}anomaly: {webhook: {url: "https//hook.example/?token=S3CRET3", secret: "0123456789abcdef0"}}\n`,
    );
    expect(webhook).toMatch(/^anomaly\.webhook\.url: .*\(got <redacted, 34 chars>\)$/);
  });

  it("numeric-header-value-leaks-in-error: a header value is hidden whatever its type", () => {
    expect(problems(otlpHeaders("{x-honeycomb-team: 123456789012345}"))).toEqual([
      "telemetry.otlp.headers.x-honeycomb-team: Invalid input: expected string, received number (got a number)",
    ]);
  });

  it("header-array-value-leaks-in-error: a list in a header value is hidden", () => {
    const [problem] = problems(otlpHeaders("{x-api: [S3CRET5]}"));
    expect(problem).toBe(
      "telemetry.otlp.headers.x-api: Invalid input: expected string, received array (got an array)",
    );
  });

  it("headers-as-string-leaks-in-error: a headers map written as a string is hidden", () => {
    const [problem] = problems(otlpHeaders('"authorization=Bearer S3CRET6"'));
    expect(problem).toBe(
      "telemetry.otlp.headers: Invalid input: expected record, received string (got <redacted, 28 chars>)",
    );
  });

  it("missing-space-after-colon-leaks-in-key: a key that holds a value is not echoed", () => {
    // `key:value` in a flow map is one key (with a null value), not a key and its value.
    const flow = problems(`${MINIMAL}anomaly: {alertmanager:https://am:S3CRET7@am.example/}\n`);
    expect(flow).toEqual(["anomaly.<redacted>: unknown key"]);
    const header = problems(otlpHeaders("{authorization:Bearer S3CRET8}"));
    expect(header).toEqual([
      "telemetry.otlp.headers.<redacted>: Invalid input: expected string, received null (got null)",
    ]);
    const tenant = problems(MINIMAL.replace("acme:", '"am-user:S3CRET9@h":'));
    expect(tenant[0]).toMatch(/^tenants\.<redacted>: invalid key/);
    // In a block map the same line is a string where a map belongs.
    const block = problems(`${MINIMAL}anomaly:\n  alertmanager:https://am:S3CRET7@am.example/\n`);
    expect(block).toEqual([
      "anomaly: Invalid input: expected object, received string (got <redacted, 43 chars>)",
    ]);
  });

  it("yaml-alias-leaks-in-error: a secret that YAML takes for an alias is not echoed", () => {
    // An unquoted value starting with `*` names an anchor; YAML's own error repeats it.
    expect(problems(otlpHeaders("{authorization: *S3CRET10}"))).toEqual([
      "Unresolved alias (the anchor must be set before the alias)",
    ]);
    expect(
      problems(`${MINIMAL}anomaly: {webhook: {url: "https://h.example/", secret: *S3CRET}}\n`),
    ).toEqual(["Unresolved alias (the anchor must be set before the alias)"]);
  });

  it("yaml-escape-leaks-in-error: a syntax error names its line, not the text", () => {
    const [problem] = problems(otlpHeaders('{authorization: "Bearer S3CRET\\q"}'));
    expect(problem).toMatch(/^Invalid escape sequence at line \d+, column \d+$/);
  });

  it("secret-named-value-leaks-in-error: a rejected secret is hidden, even a short one", () => {
    const [problem] = problems(
      `${MINIMAL}anomaly: {webhook: {url: "https://h.example/", secret: short}}\n`,
    );
    expect(problem).toBe(
      "anomaly.webhook.secret: Too small: expected string to have >=16 characters (got <redacted, 5 chars>)",
    );
  });

  it("keeps harmless rejected values readable", () => {
    expect(problems(`${MINIMAL}inbound: {timeouts: {idle: 5min}}\n`)).toEqual([
      'inbound.timeouts.idle: expected a duration like 500ms, 30s, 5m (got "5min")',
    ]);
    expect(problems(`${MINIMAL}anomaly: {threshold: -3}\n`)[0]).toMatch(/\(got -3\)$/);
    expect(problems(`${MINIMAL}telemetry: {logs: {access: "yes"}}\n`)[0]).toMatch(/\(got "yes"\)$/);
    expect(
      problems(
        `${MINIMAL}grants: [{from: acme, to: acme, methods: [GETT], paths: [/x], expires: 2030-01-01T00:00:00Z}]\n`,
      ),
    ).toContain(
      'grants.0.methods.0: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"|"OPTIONS" (got "GETT")',
    );
  });
});
