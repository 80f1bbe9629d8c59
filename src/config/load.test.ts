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
    expect(problems(`${MINIMAL}inbound: {timeouts: {headers: 5 s}}\n`)).toEqual([
      'inbound.timeouts.headers: expected a duration like 500ms, 30s, 5m (got "5 s")',
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

  it("rejected-url-in-error-shows-credentials: a refused value is shown redacted", () => {
    const [problem] = problems(
      `${MINIMAL}anomaly: {alertmanager: "ftp://am:hunter2@am.example/?token=t0k3n"}\n`,
    );
    expect(problem).toMatch(/^anomaly\.alertmanager: /);
    expect(problem).not.toMatch(/hunter2|t0k3n/);
    expect(problem).toContain("ftp://<redacted>@am.example/?token=<redacted>");
  });
});
