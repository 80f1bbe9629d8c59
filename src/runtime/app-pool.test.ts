/**
 * The app pool across a reload that changes `inbound.timeouts.idle`: a request the old pool
 * carries completes on it, new requests go through the new pool, and drain's destroy
 * reaches a replaced pool still finishing its requests (a hung app cannot hold the pod).
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { request } from "undici";
import { eventually } from "../../test/support/eventually.js";
import { AppPool } from "./app-pool.js";

let server: Server;
let origin: string;
/** Requests to /hold wait here until released. */
const held: ServerResponse[] = [];
let arrived: (() => void) | undefined;

beforeEach(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/hold") {
      held.push(res);
      arrived?.();
    } else res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const res of held.splice(0)) res.end();
  server.closeAllConnections();
  server.close();
  await once(server, "close");
});

function holding(): Promise<void> {
  return new Promise((resolve) => (arrived = resolve));
}

describe("AppPool", () => {
  it("keeps the pool while the keep-alive it derives is unchanged", () => {
    const pool = new AppPool(60_000);
    const first = pool.current;
    pool.reconfigure(30_000); // both cap at the same keep-alive
    expect(pool.current).toBe(first);
    pool.reconfigure(1_000);
    expect(pool.current).not.toBe(first);
    return pool.destroy();
  });

  it("lets the replaced pool finish its request while new ones use the new pool", async () => {
    const pool = new AppPool(60_000);
    const old = pool.current;
    const arrivedOnOld = holding();
    const slow = request(`${origin}/hold`, { dispatcher: old });
    await arrivedOnOld;
    pool.reconfigure(1_000);
    expect(pool.current).not.toBe(old);
    expect(await (await request(`${origin}/`, { dispatcher: pool.current })).body.text()).toBe(
      "ok",
    );
    held.shift()?.end("late");
    expect(await (await slow).body.text()).toBe("late");
    expect(pool.retiring).toBe(1);
    // Its connection ends (here the app closes it): then nothing holds the old pool.
    server.closeIdleConnections();
    await eventually(() => pool.retiring === 0, "the replaced pool let go");
    await pool.destroy();
  });

  it("destroy aborts a request a replaced pool still carries", async () => {
    const pool = new AppPool(60_000);
    const arrivedOnOld = holding();
    const hung = request(`${origin}/hold`, { dispatcher: pool.current });
    await arrivedOnOld;
    pool.reconfigure(1_000);
    await pool.destroy();
    await expect(hung).rejects.toThrow();
  });
});
