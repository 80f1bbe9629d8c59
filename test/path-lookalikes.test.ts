/**
 * Percent-encoded Unicode look-alikes of `/tenants/`, `../` and `/` through real sidecars,
 * against an app that does what a naive app does: decode, NFKC-normalise, resolve dot
 * segments, then route on the path. Each attack names a tenant (or a resource) to the app
 * that Palisade never saw; each must be refused before the app sees anything.
 */
import { posix } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { type AppHandler, type TestApp } from "./support/app.js";
import { baseConfig, send, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const SECRETS: Record<string, string> = { acme: "acme-ledger-secret", globex: "globex-own" };

/** Decodes until stable (some stacks decode twice), normalises NFKC, resolves `..`. */
function naivePath(url: string): string {
  let path = url.split("?")[0] ?? "";
  for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(path); i++) path = decodeURIComponent(path);
  return posix.normalize(path.normalize("NFKC"));
}

const naiveApp: AppHandler = (req, res) => {
  let path: string;
  try {
    path = naivePath(req.url ?? "");
  } catch {
    res.writeHead(400);
    return void res.end();
  }
  const tenant = /^\/tenants\/([^/]+)\//.exec(path)?.[1] ?? "";
  const text = JSON.stringify({ path, tenant, secret: SECRETS[tenant] ?? null });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(text);
};

let app: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let globex: Agent;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app(naiveApp);
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  config["grants"] = [
    {
      id: "globex-public",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/public/**"],
      expires: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    },
  ];
  orders = await mesh.sidecar(config);
  const webConfig = baseConfig(mesh.pki, "web", ["acme", "globex"], app.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    allowUnsignedTenant: true,
    upstreams: { orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } } },
  };
  web = await mesh.sidecar(webConfig);
  globex = await mesh.client("globex", "web", "orders");
});

/** globex asks for `path`; it must be refused before the app, and acme's data never leaves. */
async function expectRefusedInbound(path: string, status = 400, code = "ambiguous_target") {
  const before = app.seen.length;
  const answer = await send(globex, `${orders.inbound}${path}`);
  expect(answer.text).not.toContain(SECRETS["acme"]);
  expect(answer.status).toBe(status);
  expect(answer.json()).toMatchObject({ error: code });
  expect(app.seen.length).toBe(before);
}

const FULLWIDTH_TENANTS = "%EF%BD%94%EF%BD%85%EF%BD%8E%EF%BD%81%EF%BD%8E%EF%BD%94%EF%BD%93";
const FULLWIDTH_DOT = "%EF%BC%8E";

describe("look-alikes of the route's literal segment", () => {
  it("unicode-lookalike-tenants-segment: /ｔｅｎａｎｔｓ/acme/ledger", async () => {
    // Sanity: the naive app really would route this to acme.
    expect(naivePath(`/${FULLWIDTH_TENANTS}/acme/ledger`)).toBe("/tenants/acme/ledger");
    await expectRefusedInbound(`/${FULLWIDTH_TENANTS}/acme/ledger`);
  });

  it("long-s-tenants-literal: /tenantſ/acme/ledger", async () => {
    expect(naivePath("/tenant%C5%BF/acme/ledger")).toBe("/tenants/acme/ledger");
    await expectRefusedInbound("/tenant%C5%BF/acme/ledger");
  });

  it("fullwidth-solidus-before-literal: /／tenants/acme/ledger", async () => {
    expect(naivePath("/%EF%BC%8Ftenants/acme/ledger")).toBe("/tenants/acme/ledger");
    await expectRefusedInbound("/%EF%BC%8Ftenants/acme/ledger");
  });

  it("double-encoded-lookalike-literal: /%25EF%25BD%2594enants/acme/ledger", async () => {
    const path = "/%25EF%25BD%2594enants/acme/ledger";
    expect(naivePath(path)).toBe("/tenants/acme/ledger");
    await expectRefusedInbound(path);
  });
});

describe("look-alikes of dot segments", () => {
  it("fullwidth-dot-segment: /tenants/globex/．．/acme/ledger", async () => {
    const path = `/tenants/globex/${FULLWIDTH_DOT}${FULLWIDTH_DOT}/acme/ledger`;
    expect(naivePath(path)).toBe("/tenants/acme/ledger");
    await expectRefusedInbound(path);
  });

  it.each([
    ["one-dot-leader-dot-segment", "%E2%80%A4%E2%80%A4"],
    ["two-dot-leader-dot-segment", "%E2%80%A5"],
    ["small-full-stop-dot-segment", "%EF%B9%92%EF%B9%92"],
    ["double-encoded-fullwidth-dot-segment", "%25EF%25BC%258E%25EF%25BC%258E"],
  ])("%s", async (_name, dots) => {
    const path = `/tenants/globex/${dots}/acme/ledger`;
    expect(naivePath(path)).toBe("/tenants/acme/ledger");
    await expectRefusedInbound(path);
  });

  it("granted-glob-lookalike-escape: /tenants/acme/public/．．/ledger", async () => {
    // A grant for /tenants/acme/public/** must not reach what the app reads as /tenants/acme/ledger.
    const path = `/tenants/acme/public/${FULLWIDTH_DOT}${FULLWIDTH_DOT}/ledger`;
    expect(naivePath(path)).toBe("/tenants/acme/ledger");
    await expectRefusedInbound(path);
    const granted = await send(globex, `${orders.inbound}/tenants/acme/public/menu`);
    expect(granted.status).toBe(200);
  });

  it("counts and audits a look-alike refusal", async () => {
    const denials = async (): Promise<number> => {
      const text = (await send(undefined, `${orders.admin}/metrics`)).text;
      const series =
        /^palisade_cross_tenant_denied_total\{[^}]*reason="ambiguous_target"[^}]*\} (\d+)$/m;
      return Number(series.exec(text)?.[1] ?? 0);
    };
    const before = await denials();
    const logged = orders.logs.length;
    await expectRefusedInbound("/tenant%C5%BF/acme/audited");
    expect(await denials()).toBe(before + 1);
    const audit = orders.logs.slice(logged).find((l) => l.reason === "ambiguous_target");
    expect(audit).toMatchObject({
      caller: "globex",
      detail: "request path refused (unicode lookalike)",
    });
  });
});

describe("the outbound path applies the same rule", () => {
  it("outbound-lookalike-tenants-segment never leaves the pod", async () => {
    const before = app.seen.length;
    const answer = await send(undefined, `${web.outbound}/${FULLWIDTH_TENANTS}/acme/ledger`, {
      headers: { host: "orders", "x-palisade-tenant": "globex" },
    });
    expect(answer.text).not.toContain(SECRETS["acme"]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: "ambiguous_target" });
    expect(app.seen.length).toBe(before);
  });
});

describe("ordinary non-ASCII paths still pass", () => {
  it.each([
    "/tenants/globex/files/caf%C3%A9",
    "/tenants/globex/files/%E6%97%A5%E6%9C%AC%E8%AA%9E",
    "/tenants/globex/files/%D0%BE%D1%82%D1%87%D1%91%D1%82",
    "/tenants/globex/files/na%C3%AFve%20report",
  ])("%s", async (path) => {
    const answer = await send(globex, `${orders.inbound}${path}`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ tenant: "globex", secret: SECRETS["globex"] });
  });
});
