/**
 * HTTP/2 on the inbound listener: every stream goes through the same stages as an HTTP/1.1
 * request (identity re-checked per stream, reserved headers, target and grant, limits), and
 * an HTTP/1.1 client on the same listener is served as before.
 */
import type { ClientHttp2Session, OutgoingHttpHeaders } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { startApp, type TestApp } from "./support/app.js";
import { h2Session } from "./support/h2-client.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  TRUST_DOMAIN,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

let pki: Pki;
let app: TestApp;
let orders: RunningSidecar;
let config: ReturnType<typeof baseConfig> & { tenants: Record<string, Record<string, unknown>> };

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders", "web"]);
  app = await startApp();
  config = baseConfig(pki, "orders", ["acme", "globex"], app.url) as typeof config;
  orders = await startSidecar(config);
});

afterAll(async () => {
  await orders?.stop();
  await app?.close();
});

/** An HTTP/2 session to orders' inbound as `tenant`'s web service. */
const h2As = (tenant: string): Promise<ClientHttp2Session> =>
  h2Session(pki, orders.inbound, tenant);

interface H2Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let body = "";
    let answered: Record<string, unknown> = {};
    stream.on("response", (h) => (answered = h));
    stream.on("data", (c: Buffer) => (body += c.toString()));
    stream.on("end", () =>
      resolve({ status: Number(answered[":status"]), headers: answered, body }),
    );
    stream.on("error", reject);
    stream.end();
  });
}

const seenPaths = () => app.seen.map((s) => s.url);

describe("HTTP/2 inbound", () => {
  it("negotiates h2, serves an h2 and an HTTP/1.1 client on the same listener", async () => {
    const session = await h2As("acme");
    try {
      const answer = await h2Request(session, { ":path": "/tenants/acme/h2" });
      expect((session.socket as { alpnProtocol?: string }).alpnProtocol).toBe("h2");
      expect(answer.status).toBe(200);
      const seen = JSON.parse(answer.body) as { headers: Record<string, string> };
      expect(seen.headers["x-palisade-tenant"]).toBe("acme");
      // The app reads the authority from Host, as over HTTP/1.1.
      expect(seen.headers["host"]).toBe(
        `acme.orders.${TRUST_DOMAIN}:${new URL(orders.inbound).port}`,
      );
    } finally {
      session.close();
    }
    const http1 = await send(
      await tenantClient(pki, "acme", "web", "orders"),
      `${orders.inbound}/tenants/acme/h1`,
    );
    expect(http1.status).toBe(200);
    expect(seenPaths()).toEqual(expect.arrayContaining(["/tenants/acme/h2", "/tenants/acme/h1"]));
  });

  it("refuses a cross-tenant stream before the app, as JSON or as a gRPC status", async () => {
    const session = await h2As("globex");
    try {
      const plain = await h2Request(session, { ":path": "/tenants/acme/secret" });
      expect(plain.status).toBe(403);
      expect(JSON.parse(plain.body)).toMatchObject({ error: "cross_tenant_denied" });
      const grpc = await h2Request(session, {
        ":method": "POST",
        ":path": "/tenants/acme/pkg.Svc/Get",
        "content-type": "application/grpc",
      });
      expect(grpc.status).toBe(200);
      expect(grpc.headers).toMatchObject({
        "grpc-status": "7",
        "grpc-message": "cross_tenant_denied",
      });
      expect(grpc.body).toBe("");
    } finally {
      session.close();
    }
    expect(seenPaths().filter((p) => p.startsWith("/tenants/acme/s"))).toEqual([]);
    expect(seenPaths()).not.toContain("/tenants/acme/pkg.Svc/Get");
  });

  it("spoofed-tenant-header over h2 is tenant_context_mismatch", async () => {
    const session = await h2As("globex");
    try {
      const answer = await h2Request(session, {
        ":path": "/tenants/globex/spoof",
        "x-palisade-tenant": "acme",
      });
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toMatchObject({ error: "tenant_context_mismatch" });
    } finally {
      session.close();
    }
    expect(seenPaths()).not.toContain("/tenants/globex/spoof");
  });

  it("authority-host-disagreement: :authority and a different Host are a 400", async () => {
    const session = await h2As("acme");
    try {
      const answer = await h2Request(session, {
        ":path": "/tenants/acme/two-hosts",
        ":authority": `acme.orders.${TRUST_DOMAIN}`,
        host: "other.example",
      });
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({
        error: "bad_request",
        message: ":authority and Host differ",
      });
    } finally {
      session.close();
    }
    expect(seenPaths()).not.toContain("/tenants/acme/two-hosts");
  });

  it("counts header fields without pseudo-headers: 100 pass, 101 are a 431", async () => {
    const session = await h2As("acme");
    const fields = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, "v"]));
    try {
      const at = await h2Request(session, { ":path": "/tenants/acme/100", ...fields(100) });
      expect(at.status).toBe(200);
      const over = await h2Request(session, { ":path": "/tenants/acme/101", ...fields(101) });
      expect(over.status).toBe(431);
      expect(JSON.parse(over.body)).toMatchObject({ error: "headers_too_large" });
      // Over 16 KiB of fields, within nghttp2's cap: refused by the request path, like HTTP/1.1.
      const big = await h2Request(session, {
        ":path": "/tenants/acme/big",
        "x-big": "a".repeat(20_000),
      });
      expect(big.status).toBe(431);
    } finally {
      session.close();
    }
    expect(seenPaths()).not.toContain("/tenants/acme/101");
    expect(seenPaths()).not.toContain("/tenants/acme/big");
  });

  it("re-checks identity per stream: an open session's tenant revoked serves nothing more", async () => {
    const session = await h2As("acme");
    try {
      expect((await h2Request(session, { ":path": "/tenants/acme/before" })).status).toBe(200);
      config.tenants["acme"]!["revoked"] = true;
      await writeFile(orders.configFile, stringify(config));
      expect(await orders.sidecar.reload("SIGHUP")).toBe(true);
      // The reload sent GOAWAY: a new stream is refused by the client or answered 403.
      const after = await h2Request(session, { ":path": "/tenants/acme/after" }).catch(
        (err: unknown) => ({ status: 0, headers: {}, body: (err as { code?: string }).code ?? "" }),
      );
      expect([0, 403]).toContain(after.status);
    } finally {
      session.close();
      config.tenants["acme"]!["revoked"] = false;
      await writeFile(orders.configFile, stringify(config));
      await orders.sidecar.reload("SIGHUP");
    }
    expect(seenPaths()).not.toContain("/tenants/acme/after");
  });
});
