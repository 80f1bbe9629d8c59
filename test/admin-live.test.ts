/**
 * The live view's admin endpoints over a real sidecar: `/events` refuses bad filters and
 * streams past its cap, the stats listener serves none of it, and the page renders its
 * tables without JavaScript, under a nonce CSP, with hostile paths escaped.
 */
import { request, type Dispatcher } from "undici";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.js";
import { startLiveMesh, type LiveMesh } from "./support/live-mesh.js";
import { rawTls, statusOf } from "./support/raw.js";
import { withMesh } from "./support/with-mesh.js";

const mesh = withMesh(["acme", "globex", "initech"], ["orders", "web"]);
let live: LiveMesh;

beforeAll(async () => {
  live = await startLiveMesh(mesh);
});

async function get(
  path: string,
): Promise<{ status: number; headers: Dispatcher.ResponseData["headers"]; text: string }> {
  const res = await request(`${live.sidecar.admin}${path}`);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe("GET /events", () => {
  it.each([
    "/events?decision=maybe",
    "/events?tenant=Acme",
    "/events?tenant=acme&tenant=globex",
    "/events?verbose=1",
  ])("refuses %s with 400", async (path) => {
    const answer = await get(path);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: "bad_request" });
  });

  it("serves 16 streams at once, answers 503 past that, and takes one again when one leaves", async () => {
    const open: Dispatcher.ResponseData[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const res = await request(`${live.sidecar.admin}/events`);
        expect(res.statusCode).toBe(200);
        expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
        open.push(res);
      }
      const refused = await get("/events");
      expect(refused.status).toBe(503);
      expect(refused.headers["retry-after"]).toBe("5");
      expect(JSON.parse(refused.text)).toMatchObject({ error: "too_many_streams" });
      open.shift()?.body.destroy();
      await eventually(async () => (await live.top()).streams.open === 15, "a stream closed");
      const again = await request(`${live.sidecar.admin}/events`);
      expect(again.statusCode).toBe(200);
      open.push(again);
    } finally {
      for (const res of open) res.body.destroy();
    }
    await eventually(async () => (await live.top()).streams.open === 0, "every stream closed");
  });
});

describe("the stats listener", () => {
  it.each(["/", "/events", "/top"])("does not serve %s", async (path) => {
    const stats = live.sidecar.sidecar.addresses().stats;
    const res = await request(`http://127.0.0.1:${stats.port}${path}`);
    await res.body.dump();
    expect(res.statusCode).toBe(404);
  });
});

describe("GET / (the page, without JavaScript)", () => {
  it("renders tenants, grants with their uses, the matrix and the denials", async () => {
    const denied = await live.call("initech", "/tenants/acme/orders/7");
    await live.call("globex", "/tenants/acme/reports/q1");
    await live.call("globex", "/tenants/acme/reports/q2");
    const page = await get("/");
    expect(page.status).toBe(200);
    const html = page.text;
    for (const t of ["acme", "globex", "initech"])
      expect(html).toContain(`<td>${t}</td><td>active</td>`);
    expect(html).toMatch(
      /<td>globex-reports<\/td><td>globex → acme<\/td><td>GET<\/td><td>\/tenants\/acme\/reports\/\*\*<\/td><td>active<\/td><td>[^<]+<\/td><td>2<\/td>/,
    );
    expect(html).toMatch(
      /data-caller="initech" data-target="acme" class="has-denied">.*?<span class="denied">1<\/span>/,
    );
    expect(html).toContain(`<td>${denied.requestId}</td>`);
  });

  it("allows only its own nonce's script and style, and says nosniff", async () => {
    const page = await get("/");
    const csp = String(page.headers["content-security-policy"]);
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`style-src 'nonce-${nonce}'`);
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.text.match(/<script\b[^>]*>/g)).toEqual([`<script nonce="${nonce}">`]);
    expect((await get("/")).headers["content-security-policy"]).not.toContain(nonce);
  });

  it("escapes a path from the network", async () => {
    const hostile = `/tenants/acme/"><script>alert(1)</script>`;
    const response = await rawTls(
      Number(new URL(live.sidecar.inbound).port),
      {
        cert: await mesh.pki.cert("initech", "web"),
        key: await mesh.pki.key("initech", "web"),
        ca: await mesh.pki.ca("initech"),
        servername: "initech.orders.mesh.local",
      },
      `GET ${hostile} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(403);
    const html = (await get("/")).text;
    expect(html).toContain("GET /tenants/acme/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script>alert");
  });
});

describe("GET /top", () => {
  it("answers the window's rows as JSON", async () => {
    await live.call("acme", "/tenants/acme/orders/1");
    const top = await live.top();
    expect(top.rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ direction: "inbound", tenant: "acme", peer: "web", denials: 0 }),
      ]),
    );
  });
});
