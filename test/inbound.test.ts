/**
 * The inbound path over real mTLS: every refusal answers before the app, with DESIGN.md's
 * code, and the happy path stamps the tenant context.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { startApp, type TestApp } from "./support/app.js";
import {
  baseConfig,
  send,
  startSidecar,
  tenantClient,
  type RunningSidecar,
} from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { rawTls, statusOf } from "./support/raw.js";

let app: TestApp;
let orders: RunningSidecar;
let acme: Agent;
let port: number;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app();
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  (config["inbound"] as Record<string, unknown>)["stripHeaders"] = ["x-tenant-id"];
  (config["inbound"] as Record<string, unknown>)["target"] = {
    path: "/tenants/{tenant}/**",
    header: "x-target-tenant",
  };
  (config["inbound"] as Record<string, unknown>)["limits"] = { requestBody: "1Ki" };
  orders = await mesh.sidecar(config);
  acme = await mesh.client("acme", "web", "orders");
  port = Number(new URL(orders.inbound).port);
});

async function tlsOptions(tenant = "acme") {
  return {
    cert: await mesh.pki.cert(tenant, "web"),
    key: await mesh.pki.key(tenant, "web"),
    ca: await mesh.pki.ca(tenant),
    servername: `${tenant}.orders.mesh.local`,
  };
}

/** Sends a request and asserts it was refused with `code` and never reached the app. */
async function expectRefused(
  path: string,
  status: number,
  code: string,
  headers: Record<string, string | string[]> = {},
  method = "GET",
) {
  const before = app.seen.length;
  const answer = await send(acme, `${orders.inbound}${path}`, { headers, method });
  expect(answer.status).toBe(status);
  expect(answer.json()).toMatchObject({ error: code, requestId: expect.any(String) });
  expect(app.seen.length).toBe(before);
  return answer;
}

describe("inbound happy path", () => {
  it("stamps tenant, caller, signed context and request id", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders?page=2`);
    expect(answer.status).toBe(200);
    const seen = app.seen.at(-1)!;
    expect(seen.url).toBe("/tenants/acme/orders?page=2");
    expect(seen.headers["x-palisade-tenant"]).toBe("acme");
    expect(seen.headers["x-palisade-caller"]).toBe("spiffe://mesh.local/tenant/acme/sa/web");
    expect(seen.headers["x-palisade-context"]).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(seen.headers["x-request-id"]).toBe(answer.headers["x-request-id"]);
  });

  it("treats a request that names no target as the caller's own", async () => {
    const answer = await send(acme, `${orders.inbound}/health`);
    expect(answer.status).toBe(200);
    expect(app.seen.at(-1)!.headers["x-palisade-tenant"]).toBe("acme");
  });

  it("accepts a peer asserting its own tenant", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/x`, {
      headers: { "x-palisade-tenant": "acme" },
    });
    expect(answer.status).toBe(200);
  });

  it("streams request bodies to the app", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      method: "POST",
      body: "hello",
    });
    expect(answer.status).toBe(200);
    expect(app.seen.at(-1)!.body).toBe("hello");
  });
});

describe("inbound refusals", () => {
  it("cross-tenant: acme reaching globex's resources", async () => {
    await expectRefused("/tenants/globex/orders", 403, "cross_tenant_denied");
  });

  it("spoofed-tenant-header: acme's certificate asserting globex", async () => {
    await expectRefused("/tenants/acme/orders", 403, "tenant_context_mismatch", {
      "x-palisade-tenant": "globex",
    });
  });

  it("repeated tenant assertion", async () => {
    await expectRefused("/tenants/acme/orders", 403, "tenant_context_mismatch", {
      "x-palisade-tenant": ["acme", "globex"],
    });
  });

  it("strips reserved headers and configured aliases that came from the network", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      headers: {
        "x-palisade-caller": "spiffe://mesh.local/tenant/globex/sa/web",
        "x-tenant-id": "globex",
        "x-palisade-context": "forged",
      },
    });
    expect(answer.status).toBe(200);
    const seen = app.seen.at(-1)!;
    expect(seen.headers["x-palisade-caller"]).toBe("spiffe://mesh.local/tenant/acme/sa/web");
    expect(seen.headers["x-tenant-id"]).toBeUndefined();
    expect(seen.headers["x-palisade-context"]).not.toBe("forged");
  });

  it.each([
    ["/tenants/acme%2F..%2Fglobex/orders", "encoded slash in the tenant segment"],
    ["/tenants/../tenants/globex/orders", "dot-dot as the tenant segment"],
    ["/tenants/acme/../globex/orders", "dot-dot after the tenant segment"],
    ["/tenants/%2e%2e/globex/orders", "encoded dot-dot"],
    ["/tenants/acme/%2E/orders", "encoded dot"],
    ["/tenants/acme\\..\\globex/orders", "backslashes"],
    ["/tenants//globex/orders", "empty segment"],
    ["/tenants/ACME/orders", "upper-case tenant id (never case-folded)"],
    ["/tenants/acme%20/orders", "percent-encoded tenant id"],
  ])("ambiguous target %s (%s)", async (path) => {
    // Raw bytes: an HTTP client library would resolve the dot segments before sending.
    const before = app.seen.length;
    const response = await rawTls(
      port,
      await tlsOptions(),
      `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"ambiguous_target"');
    expect(app.seen.length).toBe(before);
  });

  it("a case-changed literal still names the target tenant", async () => {
    await expectRefused("/TENANTS/globex/orders", 403, "cross_tenant_denied");
  });

  it("a target header that disagrees with the path is ambiguous", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      "GET /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nX-Target-Tenant: globex\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"ambiguous_target"');
  });

  it("a repeated target header is ambiguous", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      "GET /x HTTP/1.1\r\nHost: a\r\nX-Target-Tenant: acme\r\nX-Target-Tenant: acme\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"ambiguous_target"');
  });

  it("body over the limit is refused with 413 (content-length)", async () => {
    const before = app.seen.length;
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`, {
      method: "POST",
      body: "x".repeat(2048),
    });
    expect(answer.status).toBe(413);
    expect(answer.json()).toMatchObject({ error: "body_too_large" });
    expect(app.seen.length).toBe(before);
  });

  it("duplicate Host is a 400 bad_request", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      "GET /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"bad_request"');
  });

  it("request smuggling (Content-Length with Transfer-Encoding) is a 400", async () => {
    const before = app.seen.length;
    const response = await rawTls(
      port,
      await tlsOptions(),
      "POST /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /tenants/globex/orders HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('"error":"bad_request"');
    expect(app.seen.length).toBe(before);
  });

  it("headers over 16 KiB are a 431", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      `GET /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(431);
    expect(response).toContain('"error":"headers_too_large"');
  });

  it("removes hop-by-hop headers, including those named by Connection", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      "GET /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nConnection: close, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\n",
    );
    expect(statusOf(response)).toBe(200);
    const seen = app.seen.at(-1)!;
    expect(seen.headers["x-secret"]).toBeUndefined();
    expect(seen.headers["keep-alive"]).toBeUndefined();
    expect(seen.headers["x-kept"]).toBe("yes");
  });

  it("keeps serving after every hostile request above", async () => {
    const answer = await send(acme, `${orders.inbound}/tenants/acme/orders`);
    expect(answer.status).toBe(200);
  });

  it("counts denials by reason", async () => {
    const metrics = await send(undefined, `${orders.admin}/metrics`);
    expect(metrics.text).toMatch(
      /palisade_cross_tenant_denied_total\{direction="inbound",tenant="acme",target="globex",reason="cross_tenant_denied",workload="orders"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /palisade_requests_total\{direction="inbound",tenant="acme",peer="unknown",upstream="",code="403",workload="orders"\} [1-9]/,
    );
  });

  it("logs refusals in the audit log without query strings", () => {
    const audit = orders.logs.filter(
      (l) => l.log === "audit" && l["reason"] === "cross_tenant_denied",
    );
    expect(audit.length).toBeGreaterThan(0);
    const access = orders.logs.filter((l) => l.log === "access");
    expect(access.some((l) => String(l["path"]).includes("?"))).toBe(false);
  });
});

describe("inbound upstream failures", () => {
  it("a chunked body over the limit is refused with 413", async () => {
    const response = await rawTls(
      port,
      await tlsOptions(),
      `POST /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n${"x".repeat(0x800)}\r\n0\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(413);
    expect(response).toContain('"error":"body_too_large"');
  });

  it("an app that is down is a 502, an app that hangs is a 504", async () => {
    const held: Array<() => void> = [];
    const slow = await startApp((_req, res) => held.push(() => res.end("late")));
    const down = await startApp();
    await down.close();
    for (const [appUrl, status, code] of [
      [down.url, 502, "upstream_unavailable"],
      [slow.url, 504, "upstream_timeout"],
    ] as const) {
      const config = baseConfig(mesh.pki, "orders", ["acme"], appUrl);
      (config["inbound"] as Record<string, unknown>)["timeouts"] = { upstream: "300ms" };
      const sidecar = await startSidecar(config);
      try {
        const answer = await send(acme, `${sidecar.inbound}/tenants/acme/orders`);
        expect(answer.status).toBe(status);
        expect(answer.json()).toMatchObject({ error: code });
      } finally {
        await sidecar.stop();
      }
    }
    held.forEach((release) => release());
    await slow.close();
  });
});

describe("slow clients", () => {
  it("a client that never finishes its headers is cut off, and the sidecar keeps serving", async () => {
    const config = baseConfig(mesh.pki, "orders", ["acme"], app.url);
    (config["inbound"] as Record<string, unknown>)["timeouts"] = {
      headers: "500ms",
      request: "1s",
    };
    const sidecar = await startSidecar(config);
    try {
      const slowPort = Number(new URL(sidecar.inbound).port);
      // Headers trickle in and never end; the server must close within the bound.
      const response = await rawTls(
        slowPort,
        await tlsOptions(),
        "GET /tenants/acme/orders HTTP/1.1\r\nHost: a\r\nX-Slow: 1",
      );
      expect(statusOf(response)).toBe(408);
      expect(response).toContain('"error":"request_timeout"');
      expect((await send(acme, `${sidecar.inbound}/tenants/acme/orders`)).status).toBe(200);
    } finally {
      await sidecar.stop();
    }
  });
});

describe("rate limits", () => {
  it("refuses a tenant over its rate with 429, and only that tenant", async () => {
    const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
    const tenants = config["tenants"] as Record<string, Record<string, unknown>>;
    tenants["acme"]!["rateLimit"] = { requestsPerSecond: 0.001, burst: 2 };
    const sidecar = await startSidecar(config);
    const globex = await tenantClient(mesh.pki, "globex", "web", "orders");
    try {
      const url = `${sidecar.inbound}/tenants/acme/orders`;
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await send(acme, url)).status);
      expect(statuses).toEqual([200, 200, 429]);
      const limited = await send(acme, url);
      expect(limited.json()).toMatchObject({ error: "rate_limited" });
      // One token per 1000 s, and the bucket just emptied: come back in about 1000 s.
      const retryAfter = String(limited.headers["retry-after"]);
      expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
      expect(Number(retryAfter)).toBeGreaterThan(990);
      expect(Number(retryAfter)).toBeLessThanOrEqual(1000);
      expect(String(limited.json()["message"])).toContain("tenants.acme.rateLimit");
      expect((await send(globex, `${sidecar.inbound}/tenants/globex/orders`)).status).toBe(200);
    } finally {
      await globex.close();
      await sidecar.stop();
    }
  });
});

describe("fairness", () => {
  it("one tenant holding requests open cannot take the app from another", async () => {
    const held: Array<() => void> = [];
    const slow = await startApp((req, res) => {
      if (req.url?.includes("/slow")) held.push(() => res.end("late"));
      else res.end("ok");
    });
    const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], slow.url);
    (config["inbound"] as Record<string, unknown>)["limits"] = { concurrentPerTenant: 2 };
    const sidecar = await startSidecar(config);
    const globex = await tenantClient(mesh.pki, "globex", "web", "orders");
    try {
      const pending = [1, 2].map((n) => send(acme, `${sidecar.inbound}/tenants/acme/slow/${n}`));
      while (held.length < 2) await new Promise((r) => setImmediate(r));
      const third = await send(acme, `${sidecar.inbound}/tenants/acme/slow/3`);
      expect(third.status).toBe(429);
      expect(third.json()).toMatchObject({ error: "rate_limited" });
      // Which limit: the in-flight cap, not a rate, so no time to come back is promised.
      expect(String(third.json()["message"])).toContain("inbound.limits.concurrentPerTenant: 2");
      expect(third.headers["retry-after"]).toBeUndefined();
      const requestId = third.headers["x-request-id"];
      expect(
        sidecar.logs.find((l) => l.log === "access" && l["requestId"] === requestId),
      ).toMatchObject({ error: "rate_limited", limit: "inbound.limits.concurrentPerTenant" });
      expect((await send(globex, `${sidecar.inbound}/tenants/globex/fast`)).status).toBe(200);
      held.forEach((release) => release());
      expect((await Promise.all(pending)).map((a) => a.status)).toEqual([200, 200]);
    } finally {
      await globex.close();
      await sidecar.stop();
      await slow.close();
    }
  });
});
