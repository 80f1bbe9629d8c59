/**
 * `/config` on the admin listener, read the way an operator (or anyone who reaches the
 * admin port) would: the running config, with every credential the config can hold
 * redacted, and everything else (hosts, paths, certificate file names) left readable.
 */
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { type TestApp } from "./support/app.js";
import { baseConfig, send, startSidecar, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const SECRETS = [
  "billing-sni-pass",
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

const mesh = withMesh(["acme"], ["orders"]);

beforeAll(async () => {
  app = await mesh.app();
  const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
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
        // Not a URL field, but a URL-ish string all the same: userinfo without `//`.
        sni: "svc:billing-sni-pass@billing.default.svc",
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
  sidecar = await mesh.sidecar(config);
});

describe("GET /config", () => {
  it("config-endpoint-shows-url-credentials", async () => {
    const answer = await send(undefined, `${sidecar.admin}/config`);
    expect(answer.status).toBe(200);
    for (const secret of SECRETS) expect(answer.text).not.toContain(secret);
    const config = answer.json()["config"] as Record<string, Record<string, unknown>>;
    const upstreams = config["outbound"]!["upstreams"] as Record<string, { url: string }>;
    expect(upstreams["billing"]).toMatchObject({ sni: "<redacted>@billing.default.svc" });
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

describe("config reload refused", () => {
  /** Each edit is refused; the log line says where, never what. */
  const edits: [string, (config: Record<string, unknown>) => string][] = [
    [
      "url-without-slashes-leaks-userinfo-in-reload-log",
      (c) => stringify({ ...c, anomaly: { alertmanager: "https:am-user:S3CRET1@am.example/" } }),
    ],
    [
      "numeric-header-value-leaks-in-reload-log",
      (c) =>
        stringify({
          ...c,
          telemetry: {
            ...(c["telemetry"] as object),
            otlp: otlp({ "x-honeycomb-team": 123456789012345 }),
          },
        }),
    ],
    [
      "header-array-value-leaks-in-reload-log",
      (c) =>
        stringify({
          ...c,
          telemetry: { ...(c["telemetry"] as object), otlp: otlp({ "x-api": ["S3CRET5"] }) },
        }),
    ],
    [
      "headers-as-string-leaks-in-reload-log",
      (c) =>
        stringify({
          ...c,
          telemetry: { ...(c["telemetry"] as object), otlp: otlp("authorization=Bearer S3CRET6") },
        }),
    ],
    [
      "inline-key-leaks-in-reload-log",
      (c) => {
        const tenants = c["tenants"] as Record<string, Record<string, string>>;
        const acme = {
          ...tenants["acme"],
          key: "-----BEGIN PRIVATE KEY-----\nMC4CAQS3CRET7\n-----END PRIVATE KEY-----\n",
        };
        return stringify({ ...c, tenants: { acme } });
      },
    ],
    ["yaml-alias-leaks-in-reload-log", (c) => `${stringify(c)}drainDelay: *S3CRET8\n`],
  ];

  function otlp(headers: unknown): Record<string, unknown> {
    return { endpoint: "http://127.0.0.1:9/v1/traces", sampleRatio: 0, headers };
  }

  it.each(edits)("%s", async (_name, edit) => {
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    const m = await startSidecar(config);
    try {
      const id = m.sidecar.generation.id;
      await writeFile(m.configFile, edit(config));
      expect(await m.sidecar.reload("SIGHUP")).toBe(false);
      expect(m.sidecar.generation.id).toBe(id);
      const refused = m.logs.find(
        (l) =>
          l.msg === "config reload refused; keeping the running generation" &&
          l["reason"] === "SIGHUP",
      );
      expect(refused?.level).toBe("error");
      expect(String(refused?.["err"])).toMatch(/palisade\.yaml: /);
      expect(JSON.stringify(m.logs)).not.toMatch(/S3CRET|123456789012345|PRIVATE KEY/);
      const metrics = (await send(undefined, `${m.admin}/metrics`)).text;
      expect(metrics).toMatch(/palisade_config_reloads_total\{result="failure"[^}]*\} [1-9]/);
    } finally {
      await m.stop();
    }
  });
});
