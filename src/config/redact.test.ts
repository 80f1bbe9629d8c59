import { describe, expect, it } from "vitest";
import { redactSecrets, redactUrl } from "./redact.js";

describe("redactUrl", () => {
  it.each([
    ["https://u:p@h.example:8443/a/b", "https://<redacted>@h.example:8443/a/b"],
    ["https://u@h.example/", "https://<redacted>@h.example/"],
    ["http://h/x?token=t&region=eu", "http://h/x?token=<redacted>&region=<redacted>"],
    ["http://h/x?bare-secret", "http://h/x?<redacted>"],
    ["http://h/x#frag", "http://h/x#<redacted>"],
    ["http://h:9/v1?a=1&b", "http://h:9/v1?a=<redacted>&<redacted>"],
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
