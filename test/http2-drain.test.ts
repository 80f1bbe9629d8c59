/**
 * Drain with HTTP/2 sessions open: GOAWAY first (the stream in flight finishes, no new one
 * starts), and at the drain deadline the session is cut, never its socket under it (which
 * can abort Node), so the stop completes and the process lives on.
 */
import { connect, type ClientHttp2Session } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echo, startApp, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, makePki, startSidecar, TRUST_DOMAIN, type Pki } from "./support/mesh.js";

let pki: Pki;
let app: TestApp;
/** Requests the app holds until the test releases them. */
const held: (() => void)[] = [];

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders", "web"]);
  app = await startApp((req, res, body) => {
    if (req.url?.includes("/slow")) held.push(() => echo(req, res, body));
    else echo(req, res, body);
  });
});

afterAll(async () => {
  await app?.close();
});

async function h2To(inbound: string): Promise<ClientHttp2Session> {
  const session = connect(inbound, {
    cert: await pki.cert("acme", "web"),
    key: await pki.key("acme", "web"),
    ca: await pki.ca("acme"),
    servername: `acme.orders.${TRUST_DOMAIN}`,
    checkServerIdentity: () => undefined,
  });
  session.on("error", () => {});
  return session;
}

/** Resolves with the status, or 0 when the stream is refused or cut. */
function status(session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve) => {
    let code = 0;
    let stream;
    try {
      stream = session.request({ ":path": path });
    } catch {
      // The client itself refuses a stream after GOAWAY.
      return resolve(0);
    }
    stream.on("response", (h) => (code = Number(h[":status"])));
    stream.on("data", () => {});
    stream.on("close", () => resolve(code));
    stream.on("error", () => {});
    stream.end();
  });
}

describe("drain with HTTP/2 sessions", () => {
  it("sends GOAWAY: the stream in flight finishes, a new one does not start", async () => {
    const orders = await startSidecar(baseConfig(pki, "orders", ["acme"], app.url));
    const session = await h2To(orders.inbound);
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    const inFlight = status(session, "/tenants/acme/slow/1");
    await eventually(() => held.length === 1, "the app holding the request");
    const stopped = orders.stop();
    await goaway;
    expect(await status(session, "/tenants/acme/after-goaway")).toBe(0);
    held.shift()?.();
    expect(await inFlight).toBe(200);
    await stopped;
    expect(app.seen.some((s) => s.url === "/tenants/acme/after-goaway")).toBe(false);
    session.destroy();
  });

  it("cuts a session still busy at the drain deadline, and the process carries on", async () => {
    const config = baseConfig(pki, "orders", ["acme"], app.url);
    const orders = await startSidecar({ ...config, drainTimeout: "300ms" });
    const session = await h2To(orders.inbound);
    const inFlight = status(session, "/tenants/acme/slow/2");
    await eventually(() => held.length === 1, "the app holding the request");
    await orders.stop();
    expect(await inFlight).toBe(0);
    await eventually(() => session.closed || session.destroyed, "the client session closed");
    held.shift()?.();
    session.destroy();
  });
});
