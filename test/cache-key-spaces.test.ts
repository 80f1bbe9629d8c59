/**
 * Cache key spaces over real sidecars: a peer (mTLS, as the `web` service) calls the orders
 * sidecar's inbound listener, whose cache is on; the orders app (played by the test) calls
 * the billing sidecar through the orders outbound listener, whose upstreams cache too. Both
 * directions share one partition per tenant, so each test is an attempt to make one key
 * space answer for another: through the peer's `Host`, through upstreams that share a
 * host:port, through a grant, or across a reload that re-points an origin. Hosts a peer
 * sends are IP literals: undici would send a DNS name as the TLS server name too.
 */
import { writeFile } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "undici";
import { stringify } from "yaml";
import { startApp, type TestApp } from "./support/app.js";
import { rawTcp, statusOf } from "./support/raw.js";
import { baseConfig, send, type Answer, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const TENANTS = ["acme", "globex"] as const;
type Tenant = (typeof TENANTS)[number];
const CACHED = { enabled: true, defaultTtl: "60s" };

let ordersApp: TestApp;
let billingApp: TestApp;
let orders: RunningSidecar;
let billing: RunningSidecar;
let ordersConfig: Record<string, unknown>;
/** The billing sidecar's inbound host:port: what the orders upstreams send as Host. */
let billingAuthority: string;
const peers = {} as Record<Tenant, Agent>;

/**
 * Each app answers JSON naming itself, the tenant it served, the path it saw and the Host
 * it was sent, so a body that came from the other app (or another path) is recognisable.
 * `?vary=NAME` adds a `Vary` header.
 */
function appAnswering(from: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const body = JSON.stringify({
      from,
      tenant: req.headers["x-palisade-tenant"] ?? null,
      url: req.url,
      host: req.headers.host ?? null,
    });
    const headers: OutgoingHttpHeaders = {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    };
    const vary = new URL(req.url ?? "/", "http://app").searchParams.get("vary");
    if (vary !== null) headers["vary"] = vary;
    res.writeHead(200, headers).end(body);
  };
}

/** Upstreams of the orders sidecar, all on the billing sidecar's one host:port. */
function upstreams(): Record<string, unknown> {
  const on = (path: string, extra: Record<string, unknown> = {}) => ({
    url: `${billing.inbound}${path}`,
    // Every one of them is the billing service, whatever its key.
    service: "billing",
    target: { path: "/tenants/{tenant}/**" },
    cache: CACHED,
    ...extra,
  });
  return {
    billing: on(""),
    "billing-v1": on("/v1"),
    "billing-v2": on("/v2"),
    "billing-alias": on("", { sni: "{tenant}.billing.mesh.local" }),
    ledger: on("/ledger-old"),
  };
}

const mesh = withMesh([...TENANTS], ["orders", "billing", "web"]);

beforeAll(async () => {
  ordersApp = await mesh.app(appAnswering("orders"));
  billingApp = await mesh.app(appAnswering("billing"));
  const grants = [
    {
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      expires: "2099-01-01T00:00:00Z",
    },
  ];
  const billingConfig = baseConfig(mesh.pki, "billing", [...TENANTS], billingApp.url);
  billingConfig["grants"] = grants;
  billingConfig["telemetry"] = { logs: { level: "warn" } };
  billing = await mesh.sidecar(billingConfig);
  billingAuthority = new URL(billing.inbound).host;

  ordersConfig = baseConfig(mesh.pki, "orders", [...TENANTS], ordersApp.url);
  (ordersConfig["inbound"] as Record<string, unknown>)["cache"] = CACHED;
  ordersConfig["outbound"] = {
    listen: "127.0.0.1:0",
    allowUnsignedTenant: true,
    upstreams: upstreams(),
  };
  ordersConfig["grants"] = [
    ...grants,
    {
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/projected/**"],
      fields: ["url"],
      expires: "2099-01-01T00:00:00Z",
    },
  ];
  ordersConfig["telemetry"] = { logs: { level: "warn" } };
  orders = await mesh.sidecar(ordersConfig);
  for (const tenant of TENANTS) peers[tenant] = await mesh.client(tenant, "web", "orders");
});

/** A peer sidecar's request to the orders inbound listener, with the Host it chooses. */
function fromPeer(
  tenant: Tenant,
  path: string,
  options: { host?: string; method?: string } = {},
): Promise<Answer> {
  return send(peers[tenant], `${orders.inbound}${path}`, {
    method: options.method ?? "GET",
    headers: options.host === undefined ? {} : { host: options.host },
  });
}

/** The orders app's call to `upstream` through its outbound listener, for `tenant`. */
function toUpstream(
  tenant: Tenant,
  upstream: string,
  path: string,
  method = "GET",
): Promise<Answer> {
  return send(undefined, `${orders.outbound}${path}`, {
    method,
    headers: { host: upstream, "x-palisade-tenant": tenant },
  });
}

function label(answer: Answer): unknown {
  return answer.headers["x-palisade-cache"];
}

interface Served {
  from: string;
  tenant: string | null;
  url: string;
  host: string | null;
}

function served(answer: Answer): Served {
  return answer.json() as unknown as Served;
}

/** How many requests for `url` (as the app received it) an app saw. */
function seen(app: TestApp, url: string): number {
  return app.seen.filter((s) => s.url === url).length;
}

async function purge(query: string): Promise<number> {
  const answer = await send(undefined, `${orders.admin}/cache/purge?${query}`, {
    method: "POST",
  });
  expect(answer.status).toBe(200);
  return answer.json()["purged"] as number;
}

describe("inbound and outbound are two key spaces", () => {
  it.each(["GET", "HEAD"])(
    "inbound-host-reads-outbound-cache: a peer's Host naming an upstream reads nothing it cached (%s)",
    async (method) => {
      const path = `/tenants/acme/invoices-${method.toLowerCase()}`;
      const cached = await toUpstream("acme", "billing", path);
      expect([cached.status, label(cached), served(cached).from]).toEqual([200, "miss", "billing"]);
      expect(label(await toUpstream("acme", "billing", path))).toBe("hit");

      const stolen = await fromPeer("acme", path, { host: billingAuthority, method });
      expect([stolen.status, label(stolen)]).toEqual([200, "miss"]);
      expect(seen(ordersApp, path)).toBe(1);
      if (method === "GET") expect(served(stolen).from).toBe("orders");
    },
  );

  it("inbound-plants-outbound-entry: what a peer's request stores is never served to the app's calls", async () => {
    const path = "/tenants/acme/statements";
    const planted = await fromPeer("acme", path, { host: billingAuthority });
    expect([label(planted), served(planted).from]).toEqual(["miss", "orders"]);
    expect(label(await fromPeer("acme", path, { host: billingAuthority }))).toBe("hit");

    const call = await toUpstream("acme", "billing", path);
    expect([call.status, label(call), served(call).from]).toEqual([200, "miss", "billing"]);
    expect(seen(billingApp, path)).toBe(1);
    // And each side keeps its own entry afterwards.
    const again = await toUpstream("acme", "billing", path);
    expect([label(again), served(again).from]).toEqual(["hit", "billing"]);
    const peerAgain = await fromPeer("acme", path, { host: billingAuthority });
    expect([label(peerAgain), served(peerAgain).from]).toEqual(["hit", "orders"]);
  });

  it("inbound-post-invalidates-outbound-entry: a peer's unsafe request with an upstream's Host leaves the app's calls cached", async () => {
    const path = "/tenants/acme/orders";
    expect(label(await toUpstream("acme", "billing", path))).toBe("miss");
    const post = await fromPeer("acme", path, { host: billingAuthority, method: "POST" });
    expect([post.status, label(post), served(post).from]).toEqual([200, "bypass", "orders"]);
    const call = await toUpstream("acme", "billing", path);
    expect([label(call), served(call).from]).toEqual(["hit", "billing"]);
    expect(seen(billingApp, path)).toBe(1);
  });

  it("inbound-host-splits-nothing: the local app is one origin whatever Host a peer sends", async () => {
    const path = "/tenants/acme/catalog";
    expect(label(await fromPeer("acme", path, { host: "10.0.0.1" }))).toBe("miss");
    const other = await fromPeer("acme", path, { host: "10.0.0.2:8443" });
    expect([label(other), served(other).host]).toEqual(["hit", "10.0.0.1"]);
    expect(seen(ordersApp, path)).toBe(1);
  });

  it("inbound-vary-host: an app that varies on Host says so, and gets one entry per Host", async () => {
    const path = "/tenants/acme/home?vary=host";
    const first = await fromPeer("acme", path, { host: "10.0.0.1" });
    expect([label(first), served(first).host]).toEqual(["miss", "10.0.0.1"]);
    const second = await fromPeer("acme", path, { host: "10.0.0.2" });
    expect([label(second), served(second).host]).toEqual(["miss", "10.0.0.2"]);
    const firstAgain = await fromPeer("acme", path, { host: "10.0.0.1" });
    expect([label(firstAgain), firstAgain.text]).toEqual(["hit", first.text]);
    expect(seen(ordersApp, path)).toBe(2);
  });
});

describe("upstreams are key spaces of their own", () => {
  it("upstreams-sharing-authority-share-entries: base paths on one host:port are two resources", async () => {
    const path = "/tenants/acme/summary";
    const v1 = await toUpstream("acme", "billing-v1", path);
    expect([label(v1), served(v1).url]).toEqual(["miss", `/v1${path}`]);
    const v2 = await toUpstream("acme", "billing-v2", path);
    expect([label(v2), served(v2).url]).toEqual(["miss", `/v2${path}`]);
    const bare = await toUpstream("acme", "billing", path);
    expect([label(bare), served(bare).url]).toEqual(["miss", path]);
    expect((await toUpstream("acme", "billing-v1", path)).text).toBe(v1.text);
    expect((await toUpstream("acme", "billing-v2", path)).text).toBe(v2.text);
  });

  it("upstreams-sharing-url-share-entries: two upstream keys on one URL never answer for each other", async () => {
    const path = "/tenants/acme/balance";
    expect(label(await toUpstream("acme", "billing", path))).toBe("miss");
    expect(label(await toUpstream("acme", "billing-alias", path))).toBe("miss");
    expect(label(await toUpstream("acme", "billing-alias", path))).toBe("hit");
    expect(seen(billingApp, path)).toBe(2);
  });

  it("outbound-grant-shares-nothing: a granted cross-tenant call neither reads nor plants the target's entries", async () => {
    const path = "/tenants/acme/reports/q3";
    const own = await toUpstream("acme", "billing", path);
    expect([label(own), served(own).tenant]).toEqual(["miss", "acme"]);
    const granted = await toUpstream("globex", "billing", path);
    expect([granted.status, label(granted), served(granted).tenant]).toEqual([
      200,
      "bypass",
      "globex",
    ]);
    const ownAgain = await toUpstream("acme", "billing", path);
    expect([label(ownAgain), ownAgain.text]).toEqual(["hit", own.text]);
    expect(label(await toUpstream("globex", "billing", path))).toBe("bypass");
  });

  it("inbound-projected-grant-shares-nothing: a projected read neither reads nor plants the target's full entries", async () => {
    const path = "/tenants/acme/projected/r1";
    const full = await fromPeer("acme", path);
    expect([label(full), served(full).from]).toEqual(["miss", "orders"]);
    expect(label(await fromPeer("acme", path))).toBe("hit");
    const projected = await fromPeer("globex", path);
    expect([projected.status, label(projected), projected.json()]).toEqual([
      200,
      "bypass",
      { url: path },
    ]);
    const fullAgain = await fromPeer("acme", path);
    expect([label(fullAgain), fullAgain.text]).toEqual(["hit", full.text]);
    const projectedAgain = await fromPeer("globex", path);
    expect([label(projectedAgain), projectedAgain.json()]).toEqual(["bypass", { url: path }]);
  });

  it("absolute-form and Host name one upstream entry; the query is part of the key", async () => {
    const path = "/tenants/acme/plans?tier=gold";
    expect(label(await toUpstream("acme", "billing", path))).toBe("miss");
    // As an `HTTP_PROXY` client sends it, with a Host that names no upstream at all.
    const port = Number(new URL(orders.outbound).port);
    const absolute = await rawTcp(
      port,
      `GET http://billing${path} HTTP/1.1\r\nHost: other\r\nx-palisade-tenant: acme\r\nConnection: close\r\n\r\n`,
    );
    expect([statusOf(absolute), /\r\nx-palisade-cache: (\w+)/i.exec(absolute)?.[1]]).toEqual([
      200,
      "hit",
    ]);
    expect(label(await toUpstream("acme", "billing", "/tenants/acme/plans?tier=silver"))).toBe(
      "miss",
    );
  });
});

describe("purge by prefix across key spaces", () => {
  it("a path prefix matches both directions; a URL prefix matches one origin", async () => {
    await purge("tenant=acme");
    const path = "/tenants/acme/purge/one";
    await fromPeer("acme", path);
    await toUpstream("acme", "billing", path);
    await toUpstream("acme", "billing-v1", path);
    expect(await purge(`tenant=acme&prefix=${encodeURIComponent(`${billing.inbound}/v1/`)}`)).toBe(
      1,
    );
    expect(label(await toUpstream("acme", "billing-v1", path))).toBe("miss");
    expect(label(await toUpstream("acme", "billing", path))).toBe("hit");
    expect(await purge("tenant=acme&prefix=/tenants/acme/purge/")).toBe(3);
    expect(label(await fromPeer("acme", path))).toBe("miss");
    expect(label(await toUpstream("acme", "billing", path))).toBe("miss");
  });
});

describe("a reload that re-points an origin", () => {
  async function reload(): Promise<void> {
    await writeFile(orders.configFile, stringify(ordersConfig));
    expect(await orders.sidecar.reload("test")).toBe(true);
  }

  it("upstream-repointed-serves-old-entries: a moved upstream's old entries are not served", async () => {
    const path = "/tenants/acme/ledger";
    const before = await toUpstream("acme", "ledger", path);
    expect([label(before), served(before).url]).toEqual(["miss", `/ledger-old${path}`]);
    expect(label(await toUpstream("acme", "ledger", path))).toBe("hit");
    const moved = upstreams();
    (moved["ledger"] as Record<string, unknown>)["url"] = `${billing.inbound}/ledger-new`;
    (ordersConfig["outbound"] as Record<string, unknown>)["upstreams"] = moved;
    await reload();
    const after = await toUpstream("acme", "ledger", path);
    expect([label(after), served(after).url]).toEqual(["miss", `/ledger-new${path}`]);
  });

  it("app-repointed-serves-old-entries: the old app's entries are not served for the new one", async () => {
    const path = "/tenants/acme/profile";
    const before = await fromPeer("acme", path);
    expect([label(before), served(before).from]).toEqual(["miss", "orders"]);
    expect(label(await fromPeer("acme", path))).toBe("hit");
    const newApp = await startApp(appAnswering("orders-v2"));
    try {
      (ordersConfig["inbound"] as Record<string, unknown>)["app"] = newApp.url;
      await reload();
      const after = await fromPeer("acme", path);
      expect([label(after), served(after).from]).toEqual(["miss", "orders-v2"]);
    } finally {
      (ordersConfig["inbound"] as Record<string, unknown>)["app"] = ordersApp.url;
      await reload();
      await newApp.close();
    }
  });
});
