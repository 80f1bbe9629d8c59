import { createServer, type AddressInfo, type Server } from "node:net";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendUpstream } from "../path/forward.js";
import { isConnectFailure, markingConnector } from "./connect-failure.js";

let closedPort: number;
let resetter: Server;
let resetterPort: number;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  const probe = createServer();
  closedPort = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  // Takes the request, then drops the connection: the request has left.
  resetter = createServer((socket) => socket.once("data", () => socket.destroy()));
  resetterPort = await listen(resetter);
});

afterAll(() => new Promise<void>((resolve) => resetter.close(() => resolve())));

/** What the request path sees from one plain-HTTP call through a marking pool. */
async function failure(port: number): Promise<unknown> {
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin, { connect: markingConnector({}) });
  try {
    await sendUpstream({
      dispatcher: pool,
      origin,
      method: "GET",
      path: "/",
      headers: {},
      body: null,
      timeout: 5_000,
    });
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await pool.destroy();
  }
}

describe("connect failures", () => {
  it("a refused connection is a connect failure, through undici and the refusal it becomes", async () => {
    const err = await failure(closedPort);
    expect(err).toMatchObject({ code: "upstream_unavailable" });
    expect(isConnectFailure(err)).toBe(true);
  });

  it("a connection lost after the request was written is not", async () => {
    const err = await failure(resetterPort);
    expect(err).toMatchObject({ code: "upstream_unavailable" });
    expect(isConnectFailure(err)).toBe(false);
  });

  it("nothing else is", () => {
    expect(isConnectFailure(new Error("ECONNREFUSED"))).toBe(false);
    expect(isConnectFailure(undefined)).toBe(false);
    expect(isConnectFailure("ECONNREFUSED")).toBe(false);
  });
});
