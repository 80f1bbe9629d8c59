/**
 * RFC 8441 extended CONNECT: a WebSocket over one HTTP/2 stream, from a raw node:http2
 * client through the inbound sidecar to a `ws` echo app that speaks HTTP/1.1. The stream is
 * decided by the same upgrade stages as an HTTP/1.1 WebSocket (tenant, reserved headers,
 * grants), counted as a websocket tunnel, and cut on revocation or grant removal; plain
 * CONNECT stays refused.
 */
import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { eventually } from "./support/eventually.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";
import { h2Session } from "./support/h2-client.js";
import {
  SHARED_FEED_GRANT,
  startWebSocketEchoApp,
  type TunnelTestConfig,
  type WebSocketEchoApp,
} from "./support/ws-app.js";
import { clientFrame, FrameReader, OP_CLOSE, OP_TEXT } from "./support/ws-frames.js";

let pki: Pki;
let app: WebSocketEchoApp;
let orders: RunningSidecar;
let config: TunnelTestConfig;

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders", "web"]);
  app = await startWebSocketEchoApp();
  config = baseConfig(pki, "orders", ["acme", "globex"], app.url) as TunnelTestConfig;
  config.grants = [SHARED_FEED_GRANT];
  orders = await startSidecar(config);
});

afterAll(async () => {
  await orders?.stop();
  await app?.close();
});

/** An HTTP/2 session to `sidecar`'s inbound as `tenant`'s web service, once its SETTINGS arrived. */
const h2As = (tenant: string, sidecar = orders): Promise<ClientHttp2Session> =>
  h2Session(pki, sidecar.inbound, tenant, { waitForSettings: true });

interface Opened {
  status: number;
  headers: Record<string, unknown>;
  stream: ClientHttp2Stream;
  frames: FrameReader;
}

/** An extended CONNECT for `path`; resolves on the response head. */
async function openWebSocket(
  session: ClientHttp2Session,
  path: string,
  extra: Record<string, string> = {},
): Promise<Opened> {
  const stream = session.request(
    {
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": "https",
      ":path": path,
      ":authority": "orders",
      "sec-websocket-version": "13",
      ...extra,
    },
    { endStream: false },
  );
  stream.on("error", () => {});
  const frames = new FrameReader(stream);
  const [headers] = (await once(stream, "response")) as [Record<string, unknown>];
  return { status: Number(headers[":status"]), headers, stream, frames };
}

async function echo(opened: Opened, text: string): Promise<string> {
  opened.stream.write(clientFrame(OP_TEXT, Buffer.from(text)));
  const frame = await opened.frames.next();
  expect(frame.opcode).toBe(OP_TEXT);
  return frame.payload.toString();
}

async function tunnelsOpen(tenant: string, sidecar = orders): Promise<number> {
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

async function reload(): Promise<void> {
  await writeFile(orders.configFile, stringify(config));
  expect(await orders.sidecar.reload("SIGHUP")).toBe(true);
}

const appSaw = (path: string) => app.saw(path);

describe("WebSocket over HTTP/2 (RFC 8441 extended CONNECT) on the inbound listener", () => {
  it("offers SETTINGS_ENABLE_CONNECT_PROTOCOL; a same-tenant WebSocket echoes and is counted", async () => {
    const session = await h2As("acme");
    try {
      expect(session.remoteSettings.enableConnectProtocol).toBe(true);
      const ws = await openWebSocket(session, "/tenants/acme/h2-ws");
      expect(ws.status).toBe(200);
      expect(ws.headers["sec-websocket-accept"]).toBeUndefined();
      expect(ws.headers["x-request-id"]).toBeTruthy();
      expect(await echo(ws, "hello")).toBe("hello");
      expect(await echo(ws, "again")).toBe("again");
      // The app got the HTTP/1.1 upgrade it speaks, stamped like any inbound request.
      const seen = app.upgrades.find((u) => u.url === "/tenants/acme/h2-ws");
      expect(seen?.headers["x-palisade-tenant"]).toBe("acme");
      expect(seen?.headers["upgrade"]).toBe("websocket");
      expect(seen?.headers["sec-websocket-key"]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(await tunnelsOpen("acme")).toBe(1);
      // A close handshake ends the tunnel, and the gauge comes back down.
      ws.stream.write(clientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
      expect((await ws.frames.next()).opcode).toBe(OP_CLOSE);
      ws.stream.end();
      await eventually(async () => (await tunnelsOpen("acme")) === 0, "tunnel uncounted");
      // The session outlives its tunnel: an ordinary stream still works on it.
      const again = await openWebSocket(session, "/tenants/acme/h2-ws-2");
      expect(again.status).toBe(200);
      again.stream.close();
    } finally {
      session.destroy();
    }
  });

  it("cross-tenant is refused 403 before the app sees it; a spoofed tenant header too", async () => {
    const session = await h2As("globex");
    try {
      const stolen = await openWebSocket(session, "/tenants/acme/h2-steal");
      expect(stolen.status).toBe(403);
      const spoofed = await openWebSocket(session, "/tenants/acme/h2-spoof", {
        "x-palisade-tenant": "acme",
      });
      expect(spoofed.status).toBe(403);
      expect(appSaw("/tenants/acme/h2-steal")).toBe(false);
      expect(appSaw("/tenants/acme/h2-spoof")).toBe(false);
      expect(await tunnelsOpen("globex")).toBe(0);
    } finally {
      session.destroy();
    }
  });

  it("plain CONNECT and a :protocol other than websocket stay refused; the session lives", async () => {
    const session = await h2As("acme");
    try {
      const plain = session.request({ ":method": "CONNECT", ":authority": "orders:443" });
      plain.on("error", () => {});
      const [plainHead] = (await once(plain, "response")) as [Record<string, unknown>];
      expect(plainHead[":status"]).toBe(400);
      const other = await openWebSocket(session, "/tenants/acme/h2-other", {
        ":protocol": "connect-udp",
      });
      expect(other.status).toBe(400);
      expect(appSaw("/tenants/acme/h2-other")).toBe(false);
      const ws = await openWebSocket(session, "/tenants/acme/h2-after");
      expect(ws.status).toBe(200);
      ws.stream.close();
    } finally {
      session.destroy();
    }
  });

  it("an open cross-tenant WebSocket is cut when its grant is removed", async () => {
    const session = await h2As("globex");
    try {
      const ws = await openWebSocket(session, "/tenants/acme/shared/h2-feed");
      expect(ws.status).toBe(200);
      expect(await echo(ws, "granted")).toBe("granted");
      expect(await tunnelsOpen("globex")).toBe(1);
      const closed = once(ws.stream, "close");
      config.grants = [];
      await reload();
      await closed;
      await eventually(async () => (await tunnelsOpen("globex")) === 0, "tunnel uncounted");
    } finally {
      session.destroy();
      config.grants = [SHARED_FEED_GRANT];
      await reload();
    }
  });

  it("an open WebSocket is cut when its tenant is revoked", async () => {
    const session = await h2As("acme");
    try {
      const ws = await openWebSocket(session, "/tenants/acme/h2-revoke");
      expect(await echo(ws, "before")).toBe("before");
      const closed = once(ws.stream, "close");
      config.tenants["acme"]!["revoked"] = true;
      await reload();
      await closed;
      await eventually(async () => (await tunnelsOpen("acme")) === 0, "tunnel uncounted");
    } finally {
      session.destroy();
      config.tenants["acme"]!["revoked"] = false;
      await reload();
    }
  });

  it("a WebSocket with no traffic either way closes at the idle timeout", async () => {
    const quietConfig = baseConfig(pki, "orders", ["acme"], app.url) as {
      inbound: Record<string, unknown>;
    };
    quietConfig.inbound["timeouts"] = { idle: "400ms" };
    const quiet = await startSidecar(quietConfig);
    const session = await h2As("acme", quiet);
    try {
      const ws = await openWebSocket(session, "/tenants/acme/h2-quiet");
      expect(await echo(ws, "once")).toBe("once");
      expect(await tunnelsOpen("acme", quiet)).toBe(1);
      await once(ws.stream, "close");
      await eventually(async () => (await tunnelsOpen("acme", quiet)) === 0, "tunnel uncounted");
    } finally {
      session.destroy();
      await quiet.stop();
    }
  });
});
