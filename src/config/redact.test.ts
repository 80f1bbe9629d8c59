import { describe, expect, it } from "vitest";
import {
  describePath,
  describeRejected,
  redactSecrets,
  redactUrl,
  redactUrlish,
} from "./redact.js";

describe("redactUrl", () => {
  it.each([
    ["https://u:p@h.example:8443/a/b", "https://<redacted>@h.example:8443/a/b"],
    ["https://u@h.example/", "https://<redacted>@h.example/"],
    ["http://h/x?token=t&region=eu", "http://h/x?token=<redacted>&region=<redacted>"],
    ["http://h/x?bare-secret", "http://h/x?<redacted>"],
    ["http://h/x#frag", "http://h/x#<redacted>"],
    ["http://h:9/v1?a=1&b", "http://h:9/v1?a=<redacted>&<redacted>"],
    ["https://h/app;jsessionid=S3CRET/x", "https://h/app;<redacted>/x"],
  ])("%s → %s", (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });

  it("leaves a URL with nothing secret exactly as written", () => {
    expect(redactUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
  });

  it("still hides userinfo and query of a string that does not parse", () => {
    expect(redactUrl("http://u:p@[bad/x?k=v")).toBe("http://<redacted>@[bad/x?<redacted>");
  });
});

describe("redactSecrets", () => {
  it("redacts header maps, secret-named keys and URLs anywhere, keeping file paths", () => {
    const out = redactSecrets({
      telemetry: { otlp: { headers: { authorization: "Bearer x", "x-api-key": "k" } } },
      anomaly: { webhook: { url: "https://h/?sig=s", secret: "s3cr3t" } },
      future: { apiKey: "k", password: "p", clientToken: "t", hashKeyFile: "keys/hash.key" },
      tenants: { acme: { key: "pki/acme/orders.key", ca: "pki/acme/ca.crt" } },
      endpoints: [{ url: "https://u:p@eu.example/", region: "eu" }],
      expires: new Date(0),
    });
    expect(out).toEqual({
      telemetry: { otlp: { headers: { authorization: "<redacted>", "x-api-key": "<redacted>" } } },
      anomaly: { webhook: { url: "https://h/?sig=<redacted>", secret: "<redacted>" } },
      future: {
        apiKey: "<redacted>",
        password: "<redacted>",
        clientToken: "<redacted>",
        hashKeyFile: "keys/hash.key",
      },
      tenants: { acme: { key: "pki/acme/orders.key", ca: "pki/acme/ca.crt" } },
      endpoints: [{ url: "https://<redacted>@eu.example/", region: "eu" }],
      expires: new Date(0),
    });
  });
});

describe("redactUrlish", () => {
  it.each([
    ["https:am-user:S3CRET@am.example/", "<redacted>@am.example/"],
    ["am-user:S3CRET@am.example:9093", "<redacted>@am.example:9093"],
    ["https//hook.example/?token=S3CRET", "https//hook.example/?<redacted>"],
    ["https:/u:p@h.example/x#S3CRET", "<redacted>@h.example/x?<redacted>"],
    [" https://u:S3CRET@h.example/", "https://<redacted>@h.example/"],
    ["\thttps://h.example/?sig=S3CRET", "https://h.example/?sig=<redacted>"],
  ])("url-without-slashes-leaks-in-config: %s → %s", (input, output) => {
    expect(redactUrlish(input)).toBe(output);
  });

  it("leaves plain strings as written", () => {
    for (const text of [
      "stdout",
      "/tenants/{tenant}/**",
      "{tenant}.orders.mesh.local",
      "0.0.0.0:15006",
    ])
      expect(redactUrlish(text)).toBe(text);
  });
});

describe("redactSecrets, by key path", () => {
  it("hides every value in a header map, numbers too, and a misspelt URL anywhere", () => {
    expect(
      redactSecrets({
        telemetry: { otlp: { headers: { "x-honeycomb-team": 123456789012345 } } },
        inbound: { timeouts: { headers: 10_000 }, sni: "u:S3CRET@{tenant}.example" },
        credentials: { user: "u", tokenFile: "/run/secrets/token" },
      }),
    ).toEqual({
      telemetry: { otlp: { headers: { "x-honeycomb-team": "<redacted>" } } },
      inbound: { timeouts: { headers: 10_000 }, sni: "<redacted>@{tenant}.example" },
      credentials: { user: "<redacted>", tokenFile: "/run/secrets/token" },
    });
  });
});

describe("describeRejected", () => {
  it.each<[unknown, (string | number)[], Parameters<typeof describeRejected>[2], string]>([
    ["http3", ["inbound", "appProtocol"], {}, 'got "http3"'],
    [-3, ["anomaly", "threshold"], {}, "got -3"],
    [undefined, ["service"], {}, "missing"],
    [null, ["telemetry", "otlp", "headers", "x"], {}, "got null"],
    ["S3CRET", ["telemetry", "otlp", "headers", "x-api"], {}, "got <redacted, 6 chars>"],
    [123456789012345, ["telemetry", "otlp", "headers", "x"], {}, "got a number"],
    [["S3CRET"], ["telemetry", "otlp", "headers", "x"], {}, "got an array"],
    ["S3CRET", ["telemetry", "otlp", "headers"], { collection: true }, "got <redacted, 6 chars>"],
    ["5sec", ["inbound", "timeouts", "headers"], {}, 'got "5sec"'],
    ["short", ["anomaly", "webhook", "secret"], {}, "got <redacted, 5 chars>"],
    ["localhost", ["anomaly", "alertmanager"], { url: true }, "got <redacted, 9 chars>"],
    ["a=b", ["logs", "destination"], {}, "got <redacted, 3 chars>"],
    ["x".repeat(65), ["service"], {}, "got <redacted, 65 chars>"],
  ])("%j at %j (%j): %s", (value, path, expected, text) => {
    expect(describeRejected(value, path, expected)).toBe(text);
  });

  it("hides a key that could hold a value or drive a terminal", () => {
    expect(describePath(["anomaly", "\u001b[2Jx"])).toBe("anomaly.<redacted>");
    expect(describePath(["anomaly", "alertmanager:https://u:p@h"])).toBe("anomaly.<redacted>");
    expect(describePath(["grants", 0, "to"])).toBe("grants.0.to");
    expect(describePath([])).toBe("(root)");
  });
});
