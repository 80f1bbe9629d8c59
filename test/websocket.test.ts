/**
 * WebSocket through two sidecars (`ws` client and server): app → web outbound → orders
 * inbound (mTLS) → app. The upgrade request is decided by the same stages as any request;
 * the tunnel is counted while open and cut when its tenant is revoked.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { stringify } from "yaml";
import { eventually } from "./support/eventually.js";
import {
  SHARED_FEED_GRANT,
  startWebSocketEchoApp,
  type TunnelTestConfig,
  type WebSocketEchoApp,
} from "./support/ws-app.js";
import { rawTcp, statusOf } from "./support/raw.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

let pki: Pki;
let app: WebSocketEchoApp;
let orders: RunningSidecar;
let ordersConfig: TunnelTestConfig;
let web: RunningSidecar;

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders", "web"]);
  app = await startWebSocketEchoApp();
  ordersConfig = baseConfig(pki, "orders", ["acme", "globex"], app.url) as TunnelTestConfig;
  ordersConfig.grants = [SHARED_FEED_GRANT];
  orders = await startSidecar(ordersConfig);
  const webConfig = baseConfig(pki, "web", ["acme", "globex"], "http://127.0.0.1:9") as {
    outbound: Record<string, unknown>;
    grants?: unknown[];
  };
  webConfig.grants = [SHARED_FEED_GRANT];
  webConfig.outbound["allowUnsignedTenant"] = true;
  webConfig.outbound["upstreams"] = {
    orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } },
  };
  web = await startSidecar(webConfig);
});

afterAll(async () => {
  await web?.stop();
  await orders?.stop();
  await app?.close();
});

/** A WebSocket from the calling app, through its own sidecar, as `tenant`. */
function connectAs(tenant: string, path: string): WebSocket {
  const socket = new WebSocket(`${web.outbound.replace("http:", "ws:")}${path}`, {
    headers: { host: "orders", "x-palisade-tenant": tenant },
  });
  socket.on("error", () => {});
  return socket;
}

function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("unexpected-response", (_req, res) =>
      reject(new Error(`refused ${res.statusCode ?? 0}`)),
    );
  });
}

function echo(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("message", (data: Buffer) => resolve(data.toString()));
    socket.send(text);
  });
}

async function tunnelsOpen(sidecar: RunningSidecar, tenant: string): Promise<number> {
  const text = (await send(undefined, `${sidecar.admin}/metrics`)).text;
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("palisade_tunnels_open{") &&
        l.includes(`tenant="${tenant}"`) &&
        l.includes('kind="websocket"'),
    );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("WebSocket through two sidecars", () => {
  it("echoes same-tenant, with the tenant stamped on the upgrade; the tunnel is counted", async () => {
    const socket = connectAs("acme", "/tenants/acme/ws");
    await opened(socket);
    expect(await echo(socket, "hello")).toBe("hello");
    expect(await echo(socket, "again")).toBe("again");
    const seen = app.upgrades.find((u) => u.url === "/tenants/acme/ws");
    expect(seen?.headers["x-palisade-tenant"]).toBe("acme");
    expect(await tunnelsOpen(web, "acme")).toBe(1);
    expect(await tunnelsOpen(orders, "acme")).toBe(1);
    socket.close();
    await eventually(async () => (await tunnelsOpen(orders, "acme")) === 0, "tunnel closed");
    await eventually(async () => (await tunnelsOpen(web, "acme")) === 0, "tunnel closed");
  });

  it("cross-tenant upgrade is refused 403 before the app sees it", async () => {
    const socket = connectAs("globex", "/tenants/acme/ws-steal");
    await expect(opened(socket)).rejects.toThrow("refused 403");
    expect(app.saw("/tenants/acme/ws-steal")).toBe(false);
  });

  it("an upgrade other than WebSocket is refused (h2c smuggling)", async () => {
    // Raw: well-behaved clients refuse to send this.
    const answer = await rawTcp(
      Number(new URL(web.outbound).port),
      "GET /tenants/acme/x HTTP/1.1\r\nhost: orders\r\nx-palisade-tenant: acme\r\n" +
        "connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    expect(statusOf(answer)).toBe(400);
    expect(answer).toContain("only WebSocket upgrades are supported");
    expect(app.saw("/tenants/acme/x")).toBe(false);
  });

  it("an open cross-tenant WebSocket is cut when its grant is removed", async () => {
    const socket = connectAs("globex", "/tenants/acme/shared/feed");
    await opened(socket);
    expect(await echo(socket, "granted")).toBe("granted");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    ordersConfig.grants = [];
    await writeFile(orders.configFile, stringify(ordersConfig));
    expect(await orders.sidecar.reload("SIGHUP")).toBe(true);
    await closed;
    await eventually(async () => (await tunnelsOpen(orders, "globex")) === 0, "tunnel uncounted");
  });

  it("an open WebSocket is cut when its tenant is revoked", async () => {
    const socket = connectAs("acme", "/tenants/acme/ws-revoke");
    await opened(socket);
    expect(await echo(socket, "before")).toBe("before");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    ordersConfig.tenants["acme"]!["revoked"] = true;
    await writeFile(orders.configFile, stringify(ordersConfig));
    expect(await orders.sidecar.reload("SIGHUP")).toBe(true);
    await closed;
    await eventually(async () => (await tunnelsOpen(orders, "acme")) === 0, "tunnel uncounted");
  });
});
