/**
 * Bytes pipelined behind a request that is still being answered: a parser refusal written
 * at once would reach the client where it expects that request's response, although the
 * app may be answering it, so the client would read "refused" for a request that ran.
 * The in-flight response is written, then the connection closes; nothing after it is
 * processed.
 */
import { beforeAll, expect, it } from "vitest";
import { type TestApp } from "./support/app.js";
import { baseConfig, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";
import { rawTls } from "./support/raw.js";
import { eventually } from "./support/eventually.js";
import { connect as tlsConnect } from "node:tls";

let app: TestApp;
let sidecar: RunningSidecar;
let port: number;
let identity: { cert: string; key: string; ca: string; servername: string };

const mesh = withMesh(["acme"], ["orders"]);

beforeAll(async () => {
  app = await mesh.app();
  sidecar = await mesh.sidecar(baseConfig(mesh.pki, "orders", ["acme"], app.url));
  port = Number(new URL(sidecar.inbound).port);
  identity = {
    cert: await mesh.pki.cert("acme", "orders"),
    key: await mesh.pki.key("acme", "orders"),
    ca: await mesh.pki.ca("acme"),
    servername: "acme.orders.mesh.local",
  };
});

const HEAD = "Host: acme.orders.mesh.local\r\n";

async function exchange(text: string): Promise<{ responses: string[]; appSaw: string[] }> {
  const before = app.seen.length;
  const raw = await rawTls(port, identity, text);
  return {
    responses: [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1] as string),
    appSaw: app.seen.slice(before).map((r) => `${r.method} ${r.url}`),
  };
}

it("bytes-after-connection-close-answered-as-400: the request that ran gets its own response", async () => {
  const { responses, appSaw } = await exchange(
    `PROPFIND /tenants/acme/a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n` +
      `GET /tenants/acme/b HTTP/1.1\r\n${HEAD}\r\n`,
  );
  expect(appSaw).toEqual(["PROPFIND /tenants/acme/a"]);
  expect(responses).toEqual(["200"]);
});

it("garbage-pipelined-behind-request-overwrites-response: answered in order, then closed", async () => {
  const { responses, appSaw } = await exchange(
    `GET /tenants/acme/a HTTP/1.1\r\n${HEAD}\r\nNOT HTTP AT ALL\r\n\r\n`,
  );
  expect(appSaw).toEqual(["GET /tenants/acme/a"]);
  expect(responses).toEqual(["200"]);
});

it("garbage on an idle connection is still refused with 400", async () => {
  const { responses, appSaw } = await exchange("NOT HTTP AT ALL\r\n\r\n");
  expect(appSaw).toEqual([]);
  expect(responses).toEqual(["400"]);
});

it("garbage-behind-two-responses-keeps-connection-open: closed after the last one", async () => {
  const before = app.seen.length;
  // The client never closes: only the sidecar can end this exchange (idle timeout: 60 s).
  const socket = tlsConnect({ host: "127.0.0.1", port, ...identity });
  let received = "";
  let ended = false;
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.on("end", () => (ended = true));
  socket.on("error", () => {});
  socket.write(
    `GET /tenants/acme/a HTTP/1.1\r\n${HEAD}\r\nGET /tenants/acme/b HTTP/1.1\r\n${HEAD}\r\nNOT HTTP\r\n\r\n`,
  );
  try {
    await eventually(() => ended, "the sidecar closes the connection", 15_000);
  } finally {
    socket.destroy();
  }
  expect(app.seen.slice(before).map((r) => r.url)).toEqual(["/tenants/acme/a", "/tenants/acme/b"]);
  expect([...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(["200", "200"]);
});
