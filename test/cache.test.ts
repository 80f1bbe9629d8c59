/**
 * The tenant-partitioned cache over the real proxy: mTLS clients → inbound sidecar with
 * `inbound.cache` on → a test app that counts its requests and answers tenant-specific
 * bodies, plus one cached outbound upstream through a two-sidecar chain. Each test is named
 * after a way a shared cache leaks. The app shapes its responses from the query string
 * (`cc`, `vary`, `cookie`, `forge`, `pad`, `hold`, `abort`), so every test uses URLs of its
 * own.
 */
import dc from "node:diagnostics_channel";
import { EventEmitter } from "node:events";
import { writeFile } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { type TestApp } from "./support/app.js";
import { baseConfig, send, type Answer, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const TENANTS = ["acme", "globex"] as const;
type Tenant = (typeof TENANTS)[number];

let app: TestApp;
let webApp: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let ordersConfig: Record<string, unknown>;
/** mTLS clients of the orders sidecar (as the web service) and of the web sidecar (as cli). */
const clients = {} as Record<Tenant, Agent>;
const webClients = {} as Record<Tenant, Agent>;
/** Signed tenant contexts the web app received, for its outbound calls. */
const contexts = {} as Record<Tenant, string>;

/** Fires on every app request and every request the sidecars' TLS listeners accept. */
const changes = new EventEmitter();
/** Request-targets the sidecars' inbound listeners have received, with counts. */
const sidecarArrivals = new Map<string, number>();
/** `?hold=NAME` responses wait for `gates.get(NAME)`. */
const gates = new Map<string, Deferred>();

interface Deferred {
  promise: Promise<void>;
  release(): void;
}

function deferred(): Deferred {
  let release = (): void => {};
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/**
 * Node publishes this before the server's request handler runs, and the proxy runs
 * synchronously up to its first wait (on the upstream, or on another request's fill), so
 * once it has fired for a request and the event loop turns, that request is parked.
 */
function onServerRequest(message: unknown): void {
  const { request } = message as { request: IncomingMessage };
  if (!(request.socket as TLSSocket).encrypted) return;
  const url = request.url ?? "";
  sidecarArrivals.set(url, (sidecarArrivals.get(url) ?? 0) + 1);
  changes.emit("change");
}

/** Resolves once `check()` holds, re-checked on every request; a deadline only to fail fast. */
function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      changes.off("change", onChange);
    };
    const onChange = (): void => {
      if (!check()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    changes.on("change", onChange);
    onChange();
  });
}

/** How many requests for `url` the app saw, for `tenant` or in all. */
function appCount(url: string, tenant?: Tenant): number {
  return app.seen.filter(
    (s) => s.url === url && (tenant === undefined || s.headers["x-palisade-tenant"] === tenant),
  ).length;
}

/**
 * The app: JSON naming the tenant it served, the user, and how many times it answered this
 * tenant's URL (`n`), so a body that crossed tenants or came from the cache is recognisable.
 */
function appHandler(req: IncomingMessage, res: ServerResponse): void {
  changes.emit("change");
  const query = new URL(req.url ?? "/", "http://app").searchParams;
  const tenant = String(req.headers["x-palisade-tenant"]);
  const n = appCount(req.url ?? "", tenant as Tenant);
  const body = JSON.stringify({
    tenant,
    user: req.headers["x-user"] ?? null,
    url: req.url,
    n,
    pad: "x".repeat(Number(query.get("pad") ?? 0)),
  });
  const headers: OutgoingHttpHeaders = { "content-type": "application/json" };
  const cc = query.get("cc");
  if (cc !== null) headers["cache-control"] = cc;
  const vary = query.get("vary");
  if (vary !== null) headers["vary"] = vary;
  if (query.has("cookie")) headers["set-cookie"] = `session=${tenant}-secret`;
  if (query.has("forge")) headers["x-palisade-cache"] = "hit";
  const abort = query.get("abort");
  if (abort !== null && n === 1) return abortMidBody(res, headers, body, abort === "chunked");
  headers["content-length"] = Buffer.byteLength(body);
  const respond = (): void => {
    res.writeHead(200, headers);
    res.end(body);
  };
  const gate = query.get("hold");
  if (gate === null) respond();
  else void gates.get(gate)?.promise.then(respond);
}

/** Headers and the first part of the body, then the connection dies. */
function abortMidBody(
  res: ServerResponse,
  headers: OutgoingHttpHeaders,
  body: string,
  chunked: boolean,
): void {
  if (!chunked) headers["content-length"] = Buffer.byteLength(body);
  res.writeHead(200, headers);
  res.write(body.slice(0, 10), () => res.socket?.destroy());
}

const mesh = withMesh([...TENANTS], ["orders", "web", "cli"]);

beforeAll(async () => {
  dc.subscribe("http.server.request.start", onServerRequest);
  mesh.defer(() => dc.unsubscribe("http.server.request.start", onServerRequest));
  app = await mesh.app((req, res) => appHandler(req, res));
  ordersConfig = baseConfig(mesh.pki, "orders", [...TENANTS], app.url);
  (ordersConfig["inbound"] as Record<string, unknown>)["cache"] = {
    enabled: true,
    defaultTtl: "60s",
  };
  const tenants = ordersConfig["tenants"] as Record<string, Record<string, unknown>>;
  // Room for a few dozen small entries: the quota test overflows it on purpose.
  tenants["acme"]!["cache"] = { maxBytes: "16Ki" };
  ordersConfig["grants"] = [
    {
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      expires: "2099-01-01T00:00:00Z",
    },
  ];
  ordersConfig["telemetry"] = { logs: { level: "warn" } };
  orders = await mesh.sidecar(ordersConfig);

  webApp = await mesh.app((req, res) => {
    contexts[String(req.headers["x-palisade-tenant"]) as Tenant] = String(
      req.headers["x-palisade-context"],
    );
    res.writeHead(204).end();
  });
  const webConfig = baseConfig(mesh.pki, "web", [...TENANTS], webApp.url);
  webConfig["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: {
      orders: {
        url: orders.inbound,
        target: { path: "/tenants/{tenant}/**" },
        cache: { enabled: true, defaultTtl: "60s" },
      },
    },
  };
  webConfig["telemetry"] = { logs: { level: "warn" } };
  web = await mesh.sidecar(webConfig);

  for (const tenant of TENANTS) {
    clients[tenant] = await mesh.client(tenant, "web", "orders");
    webClients[tenant] = await mesh.client(tenant, "cli", "web");
    // One inbound request hands the web app a real signed context for the tenant.
    expect((await send(webClients[tenant], `${web.inbound}/session`)).status).toBe(204);
  }
  mesh.defer(() => {
    for (const gate of gates.values()) gate.release();
  });
});

function get(
  tenant: Tenant,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return send(clients[tenant], `${orders.inbound}${path}`, options);
}

/** The tenant's call from the web app through its outbound sidecar to the orders service. */
function viaOutbound(tenant: Tenant, path: string): Promise<Answer> {
  return send(undefined, `${web.outbound}${path}`, {
    headers: { host: "orders", "x-palisade-context": contexts[tenant] },
  });
}

function label(answer: Answer): unknown {
  return answer.headers["x-palisade-cache"];
}

function servedTo(answer: Answer): { tenant: string; user: string | null; n: number } {
  return answer.json() as { tenant: string; user: string | null; n: number };
}

async function admin(method: string, path: string): Promise<Answer> {
  return send(undefined, `${orders.admin}${path}`, { method });
}

async function metrics(sidecar = orders): Promise<string> {
  return (await send(undefined, `${sidecar.admin}/metrics`)).text;
}

/** A sample's value, or undefined when the series does not exist. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && l.includes(labels) && !l.startsWith("#"));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("tenant partitions", () => {
  it("cache-same-url-two-tenants: one untargeted URL, a body per tenant", async () => {
    const url = "/profile";
    const acme1 = await get("acme", url);
    expect([label(acme1), servedTo(acme1).tenant]).toEqual(["miss", "acme"]);
    const globex1 = await get("globex", url);
    expect([label(globex1), servedTo(globex1).tenant]).toEqual(["miss", "globex"]);
    const acme2 = await get("acme", url);
    expect(label(acme2)).toBe("hit");
    expect(acme2.headers["age"]).toMatch(/^\d+$/);
    expect(acme2.text).toBe(acme1.text);
    const globex2 = await get("globex", url);
    expect(label(globex2)).toBe("hit");
    expect(globex2.text).toBe(globex1.text);
    expect([appCount(url, "acme"), appCount(url, "globex")]).toEqual([1, 1]);
  });

  it("cache-forged-label: the app cannot claim a hit", async () => {
    const url = "/news?forge=1";
    const first = await get("acme", url);
    expect(first.headers["x-palisade-cache"]).toBe("miss");
    expect(label(await get("acme", url))).toBe("hit");
    expect(appCount(url)).toBe(1);
  });

  it("cache-vary-cross-tenant: Vary splits users within a tenant, never joins tenants", async () => {
    const url = "/me?vary=x-user";
    const as = (tenant: Tenant, user: string) => get(tenant, url, { headers: { "x-user": user } });
    const alice = await as("acme", "alice");
    expect([label(alice), servedTo(alice).user]).toEqual(["miss", "alice"]);
    const bob = await as("acme", "bob");
    expect([label(bob), servedTo(bob).user]).toEqual(["miss", "bob"]);
    const aliceAgain = await as("acme", "alice");
    expect([label(aliceAgain), aliceAgain.text]).toEqual(["hit", alice.text]);
    const anonymous = await get("acme", url);
    expect([label(anonymous), servedTo(anonymous).user]).toEqual(["miss", null]);
    // The same user name in another tenant is another person.
    const globexAlice = await as("globex", "alice");
    expect(label(globexAlice)).toBe("miss");
    expect(servedTo(globexAlice)).toMatchObject({ tenant: "globex", user: "alice" });
    expect((await as("globex", "alice")).text).toBe(globexAlice.text);
    expect([appCount(url, "acme"), appCount(url, "globex")]).toEqual([3, 1]);
  });

  it("cache-authorization: never stored or served for a credentialed request unless public/s-maxage", async () => {
    const bearer = (user: string) => ({ headers: { authorization: `Bearer ${user}` } });
    const url = "/orders/mine";
    expect(label(await get("acme", url, bearer("alice")))).toBe("miss");
    expect(label(await get("acme", url, bearer("bob")))).toBe("miss");
    expect(label(await get("acme", url))).toBe("miss");
    expect(appCount(url)).toBe(3);
    // Stored for anonymous callers since then; a credentialed request still goes upstream.
    expect(label(await get("acme", url))).toBe("hit");
    expect(label(await get("acme", url, bearer("alice")))).toBe("miss");
    expect(appCount(url)).toBe(4);
    // must-revalidate is no licence: DESIGN.md names public and s-maxage only.
    const revalidate = "/orders/rv?cc=max-age%3D60%2C%20must-revalidate";
    await get("acme", revalidate, bearer("alice"));
    expect(label(await get("acme", revalidate))).toBe("miss");
    for (const cc of ["public%2C%20max-age%3D60", "s-maxage%3D60"]) {
      const shared = `/catalog?cc=${cc}`;
      expect(label(await get("acme", shared, bearer("alice")))).toBe("miss");
      expect(label(await get("acme", shared, bearer("bob")))).toBe("hit");
      expect(appCount(shared)).toBe(1);
    }
  });

  it.each([
    ["cache-set-cookie", "/login?cookie=1&cc=max-age%3D60"],
    ["cache-private", "/account?cc=private%2C%20max-age%3D60"],
    ["cache-no-store", "/statement?cc=no-store"],
    ["cache-vary-star", "/dashboard?vary=*"],
  ])("%s: never stored", async (_attack, url) => {
    for (const tenant of TENANTS) {
      expect(label(await get(tenant, url))).toBe("miss");
      expect(label(await get(tenant, url))).toBe("miss");
    }
    expect([appCount(url, "acme"), appCount(url, "globex")]).toEqual([2, 2]);
  });

  it("serves HEAD from a stored GET, without a body", async () => {
    const url = "/invoice/7";
    const stored = await get("acme", url);
    const head = await get("acme", url, { method: "HEAD" });
    expect([label(head), head.status, head.text]).toEqual(["hit", 200, ""]);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(stored.text)));
    expect(label(await get("globex", url, { method: "HEAD" }))).toBe("miss");
    expect(appCount(url, "acme")).toBe(1);
  });

  it("an unsafe POST invalidates its own tenant's entry only", async () => {
    const url = "/cart";
    for (const tenant of TENANTS) await get(tenant, url);
    const post = await get("acme", url, { method: "POST" });
    expect(label(post)).toBe("bypass");
    expect(label(await get("acme", url))).toBe("miss");
    expect(label(await get("globex", url))).toBe("hit");
  });

  it("a granted cross-tenant request bypasses both partitions", async () => {
    const url = "/tenants/acme/reports/q1";
    const granted = await get("globex", url);
    expect([granted.status, label(granted)]).toEqual([200, "bypass"]);
    // Not stored for acme by globex's request, nor served to globex from acme's entry.
    expect(label(await get("acme", url))).toBe("miss");
    const acmeHit = await get("acme", url);
    expect([label(acmeHit), servedTo(acmeHit).tenant]).toEqual(["hit", "acme"]);
    const again = await get("globex", url);
    expect(label(again)).toBe("bypass");
    expect(again.text).not.toBe(acmeHit.text);
    expect(appCount(url, "globex")).toBe(2);
    const purge = await admin("POST", "/cache/purge?tenant=globex&prefix=/tenants/acme/");
    expect(purge.json()).toMatchObject({ purged: 0 });
  });
});

describe("cache-purge-one-tenant", () => {
  it("empties one tenant, all of it or under a prefix", async () => {
    for (const url of ["/purge/a", "/purge/b", "/kept/c"]) await get("acme", url);
    await get("globex", "/purge/a");
    const byPrefix = await admin("POST", "/cache/purge?tenant=acme&prefix=/purge/");
    expect([byPrefix.status, byPrefix.json()["purged"]]).toEqual([200, 2]);
    expect(label(await get("acme", "/purge/a"))).toBe("miss");
    expect(label(await get("acme", "/kept/c"))).toBe("hit");
    expect(label(await get("globex", "/purge/a"))).toBe("hit");

    const all = await admin("POST", "/cache/purge?tenant=acme");
    expect(all.status).toBe(200);
    expect(all.json()["purged"]).toBeGreaterThanOrEqual(2);
    expect(label(await get("acme", "/kept/c"))).toBe("miss");
    expect(label(await get("globex", "/purge/a"))).toBe("hit");
  });

  it("a purge during a fill keeps that fill's response out", async () => {
    const url = "/purge/in-flight?hold=purge";
    const gate = deferred();
    gates.set("purge", gate);
    const answer = get("acme", url);
    await until(() => appCount(url) === 1, "the fill to reach the app");
    expect((await admin("POST", "/cache/purge?tenant=acme&prefix=/purge/")).status).toBe(200);
    gate.release();
    expect(label(await answer)).toBe("miss");
    expect(label(await get("acme", url))).toBe("miss");
    expect(appCount(url)).toBe(2);
  });

  it.each([
    ["tenant=initech", 404, "unknown_tenant"],
    ["tenant=ACME", 400, "bad_request"],
    ["tenant=acme&tenant=globex", 400, "bad_request"],
    ["prefix=/", 400, "bad_request"],
  ])("?%s → %d", async (query, status, error) => {
    const answer = await admin("POST", `/cache/purge?${query}`);
    expect([answer.status, answer.json()["error"]]).toEqual([status, error]);
  });
});

describe("cache-quota-no-cross-eviction", () => {
  it("a tenant filling its quota evicts only its own entries", async () => {
    const shared = "/quota/shared";
    await get("globex", shared);
    await get("acme", shared);
    for (let i = 0; i < 60; i++) await get("acme", `/quota/${i}?pad=300`);
    expect(label(await get("globex", shared))).toBe("hit");
    expect(label(await get("acme", shared))).toBe("miss");
    const text = await metrics();
    expect(sample(text, "palisade_cache_evictions_total", 'tenant="acme"')).toBeGreaterThan(0);
    expect(sample(text, "palisade_cache_evictions_total", 'tenant="globex"') ?? 0).toBe(0);
    expect(sample(text, "palisade_cache_bytes", 'tenant="acme"')).toBeLessThanOrEqual(16 * 1024);
  });
});

describe("cache-coalescing-across-tenants", () => {
  it("concurrent misses of one tenant share one app request", async () => {
    const url = "/slow/report?hold=one-tenant";
    const gate = deferred();
    gates.set("one-tenant", gate);
    const answers = Promise.all(Array.from({ length: 5 }, () => get("acme", url)));
    await until(
      () => sidecarArrivals.get(url) === 5 && appCount(url) === 1,
      "five requests parked behind one app request",
    );
    await new Promise((resolve) => setImmediate(resolve));
    gate.release();
    const done = await answers;
    expect(appCount(url)).toBe(1);
    expect(done.map(label).sort()).toEqual(["hit", "hit", "hit", "hit", "miss"]);
    expect(new Set(done.map((a) => a.text)).size).toBe(1);
  });

  it("concurrent misses of two tenants never share", async () => {
    const url = "/slow/summary?hold=two-tenants";
    const gate = deferred();
    gates.set("two-tenants", gate);
    const answers = Promise.all([get("acme", url), get("globex", url)]);
    // Both reach the app while it holds them: globex was not parked behind acme's fill.
    await until(() => appCount(url) === 2, "one app request per tenant");
    gate.release();
    const [acme, globex] = await answers;
    expect([label(acme), servedTo(acme).tenant]).toEqual(["miss", "acme"]);
    expect([label(globex), servedTo(globex).tenant]).toEqual(["miss", "globex"]);
  });
});

describe("cache-aborted-body", () => {
  it.each([
    ["content-length", "/export?abort=length"],
    ["chunked", "/export?abort=chunked"],
  ])("a body cut short (%s) reaches the client as an error and is not stored", async (_, url) => {
    await expect(get("acme", url)).rejects.toThrow();
    const second = await get("acme", url);
    expect([label(second), servedTo(second).n]).toEqual(["miss", 2]);
    expect(label(await get("acme", url))).toBe("hit");
  });
});

describe("outbound upstream cache through a two-sidecar chain", () => {
  it("cache-same-url-two-tenants: partitions by the call's tenant", async () => {
    const url = "/chain/profile";
    const acme1 = await viaOutbound("acme", url);
    expect([acme1.status, label(acme1), servedTo(acme1).tenant]).toEqual([200, "miss", "acme"]);
    const globex1 = await viaOutbound("globex", url);
    expect([label(globex1), servedTo(globex1).tenant]).toEqual(["miss", "globex"]);
    const acme2 = await viaOutbound("acme", url);
    expect([label(acme2), acme2.text]).toEqual(["hit", acme1.text]);
    expect(acme2.headers["age"]).toMatch(/^\d+$/);
    expect((await viaOutbound("globex", url)).text).toBe(globex1.text);
    expect([appCount(url, "acme"), appCount(url, "globex")]).toEqual([1, 1]);
    const text = await metrics(web);
    expect(sample(text, "palisade_cache_requests_total", 'tenant="acme",result="hit"')).toBe(1);
  });

  it("labels with its own outcome, never the peer sidecar's", async () => {
    const url = "/chain/relabel";
    expect(label(await get("acme", url))).toBe("miss");
    // The peer answers from its acme partition; this sidecar's own partition had nothing.
    const relayed = await viaOutbound("acme", url);
    expect([label(relayed), servedTo(relayed).tenant]).toEqual(["miss", "acme"]);
    expect(label(await viaOutbound("acme", url))).toBe("hit");
    expect(appCount(url)).toBe(1);
  });
});

describe("cache telemetry and tenant removal", () => {
  it("exports requests by result and bytes per tenant", async () => {
    const text = await metrics();
    for (const tenant of TENANTS) {
      for (const result of ["hit", "miss", "bypass"]) {
        const labels = `tenant="${tenant}",result="${result}"`;
        expect(sample(text, "palisade_cache_requests_total", labels)).toBeGreaterThan(0);
      }
      expect(sample(text, "palisade_cache_bytes", `tenant="${tenant}"`)).toBeGreaterThan(0);
    }
  });

  it("a tenant removed from config loses its cache; the others keep theirs", async () => {
    await get("acme", "/survives");
    await get("globex", "/survives");
    const tenants = { ...(ordersConfig["tenants"] as Record<string, unknown>) };
    delete tenants["globex"];
    await writeFile(orders.configFile, stringify({ ...ordersConfig, tenants, grants: [] }));
    expect(await orders.sidecar.reload("test")).toBe(true);

    expect((await admin("POST", "/cache/purge?tenant=globex")).status).toBe(404);
    expect(sample(await metrics(), "palisade_cache_bytes", 'tenant="globex"') ?? 0).toBe(0);
    expect(label(await get("acme", "/survives"))).toBe("hit");
  });
});
