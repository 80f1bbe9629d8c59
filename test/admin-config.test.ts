/**
 * `/config` on the admin listener, read the way an operator (or anyone who reaches the
 * admin port) would: the running config, with every credential the config can hold
 * redacted, and everything else (hosts, paths, certificate file names) left readable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "./support/app.js";
import { baseConfig, makePki, send, startSidecar, type RunningSidecar } from "./support/mesh.js";

const SECRETS = [
  "app-user",
  "app-pass",
  "billing-pass",
  "billing-token",
  "otlp-key",
  "Bearer otlp-bearer",
  "otlp-bearer",
  "am-user",
  "am-pass",
  "hook-sig",
  "hook-fragment",
  "webhook-secret-0123456789",
];

let app: TestApp;
let sidecar: RunningSidecar;

beforeAll(async () => {
  const pki = await makePki(["acme"], ["orders"]);
  app = await startApp();
  const config = baseConfig(pki, "orders", ["acme"], app.url);
  const appUrl = new URL(app.url);
  config["inbound"] = {
    ...(config["inbound"] as object),
    app: `http://app-user:app-pass@${appUrl.host}/`,
  };
  config["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: {
      billing: {
        url: "https://svc:billing-pass@billing.default.svc:15006/base?access_token=billing-token&region=eu",
        target: { path: "/tenants/{tenant}/**" },
      },
    },
  };
  config["telemetry"] = {
    logs: { level: "silent" },
    otlp: {
      endpoint: "http://127.0.0.1:9/v1/traces?api_key=otlp-key",
      sampleRatio: 0,
      headers: { authorization: "Bearer otlp-bearer" },
    },
  };
  config["anomaly"] = {
    alertmanager: "http://am-user:am-pass@127.0.0.1:9/",
    webhook: {
      url: "https://hooks.example/notify?sig=hook-sig#hook-fragment",
      secret: "webhook-secret-0123456789",
    },
  };
  sidecar = await startSidecar(config);
});

afterAll(async () => {
  await sidecar?.stop();
  await app?.close();
});

describe("GET /config", () => {
  it("config-endpoint-shows-url-credentials", async () => {
    const answer = await send(undefined, `${sidecar.admin}/config`);
    expect(answer.status).toBe(200);
    for (const secret of SECRETS) expect(answer.text).not.toContain(secret);
    const config = answer.json()["config"] as Record<string, Record<string, unknown>>;
    const upstreams = config["outbound"]!["upstreams"] as Record<string, { url: string }>;
    expect(upstreams["billing"]?.url).toBe(
      "https://<redacted>@billing.default.svc:15006/base?access_token=<redacted>&region=<redacted>",
    );
    expect(config["inbound"]!["app"]).toMatch(/^http:\/\/<redacted>@127\.0\.0\.1:\d+\/$/);
    expect(config["anomaly"]).toMatchObject({
      alertmanager: "http://<redacted>@127.0.0.1:9/",
      webhook: {
        url: "https://hooks.example/notify?sig=<redacted>#<redacted>",
        secret: "<redacted>",
      },
    });
    expect(config["telemetry"]!["otlp"]).toMatchObject({
      endpoint: "http://127.0.0.1:9/v1/traces?api_key=<redacted>",
      headers: { authorization: "<redacted>" },
    });
    // File paths are not secrets: they say which mounted file is in use.
    const tenants = config["tenants"] as Record<string, { key: string }>;
    expect(tenants["acme"]?.key).toMatch(/orders\.key$/);
  });

  it("config-endpoint-keeps-urls-without-credentials-readable", async () => {
    const config = (await send(undefined, `${sidecar.admin}/config`)).json()["config"] as {
      admin: { listen: string };
    };
    expect(config.admin.listen).toBe("127.0.0.1:0");
  });
});
