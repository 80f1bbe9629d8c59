/**
 * Nagle's algorithm off on every socket of both hops: what each sidecar accepts (from a
 * peer sidecar, from the local app) and what it opens (to the local app, to a peer). With
 * Nagle on, a response's last small segment can wait for the other side's delayed ACK.
 * Sockets are seen through Node's and undici's public diagnostics channels, on real
 * connections.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Agent } from "undici";
import { type TestApp } from "./support/app.js";
import { baseConfig, send, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const accepted: Socket[] = [];
const opened: Socket[] = [];
const onAccept = (message: unknown): void =>
  void accepted.push((message as { socket: Socket }).socket);
const onConnect = (message: unknown): void =>
  void opened.push((message as { socket: Socket }).socket);

/**
 * Node keeps each socket's TCP_NODELAY setting under this symbol: set at accept from the
 * server's `noDelay`, and by every `setNoDelay` call.
 */
function noDelayOf(socket: Socket): unknown {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === "kSetNoDelay");
  return key === undefined ? "no setting" : (socket as unknown as Record<symbol, unknown>)[key];
}

const portOf = (url: string): number => Number(new URL(url).port);

let ordersApp: TestApp;
let webApp: TestApp;
let orders: RunningSidecar;
let web: RunningSidecar;
let acme: Agent;

const mesh = withMesh(["acme"], ["orders", "web", "cli"]);

beforeAll(async () => {
  subscribe("net.server.socket", onAccept);
  subscribe("undici:client:connected", onConnect);
  ordersApp = await mesh.app();
  orders = await mesh.sidecar(baseConfig(mesh.pki, "orders", ["acme"], ordersApp.url));
  let context = "";
  webApp = await mesh.app((req, res) => {
    context = String(req.headers["x-palisade-context"]);
    res.end("ok");
  });
  const config = baseConfig(mesh.pki, "web", ["acme"], webApp.url);
  config["outbound"] = {
    listen: "127.0.0.1:0",
    upstreams: { orders: { url: orders.inbound, target: { path: "/tenants/{tenant}/**" } } },
  };
  web = await mesh.sidecar(config);
  acme = await mesh.client("acme", "cli", "web");
  // peer → web inbound → web app; then the web app's call → web outbound → orders → app.
  expect((await send(acme, `${web.inbound}/tenants/acme/home`)).status).toBe(200);
  const call = await send(undefined, `${web.outbound}/tenants/acme/orders`, {
    headers: { host: "orders", "x-palisade-context": context },
  });
  expect(call.status).toBe(200);
});

afterAll(() => {
  unsubscribe("net.server.socket", onAccept);
  unsubscribe("undici:client:connected", onConnect);
});

it("tcp-nodelay: every socket a sidecar accepts has Nagle off", () => {
  const listeners = new Set([portOf(web.inbound), portOf(web.outbound), portOf(orders.inbound)]);
  const sidecars = accepted.filter((socket) => listeners.has(socket.localPort ?? 0));
  // The peer's and the app's connections to web, the web sidecar's to orders.
  expect(new Set(sidecars.map((socket) => socket.localPort))).toEqual(listeners);
  for (const socket of sidecars) expect(noDelayOf(socket), `port ${socket.localPort}`).toBe(true);
});

it("tcp-nodelay: every socket a sidecar opens, to its app or to a peer, has Nagle off", () => {
  const targets = new Set([portOf(webApp.url), portOf(ordersApp.url), portOf(orders.inbound)]);
  const sidecars = opened.filter((socket) => targets.has(socket.remotePort ?? 0));
  expect(new Set(sidecars.map((socket) => socket.remotePort))).toEqual(targets);
  for (const socket of sidecars) expect(noDelayOf(socket), `port ${socket.remotePort}`).toBe(true);
});
