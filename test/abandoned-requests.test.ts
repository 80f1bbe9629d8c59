/**
 * A tenant that abandons its requests must not keep the app working for it: the request to
 * the app ends when its client goes away, and the tenant's in-flight slot is held until the
 * app's request has ended, so `concurrentPerTenant` bounds what one tenant holds of the
 * shared app pool. Real sidecar, real mTLS clients, a real app on port 0.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { request, type Agent } from "undici";
import { eventually } from "./support/eventually.js";
import { baseConfig, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const CAP = 8;
/** Just more abandoned requests (33 × 8 = 264) than the app pool has connections (256). */
const ROUNDS = 33;
/** How long acme waits before walking away from each request. */
const ABANDON_AFTER_MS = 60;

let app: Server;
let sidecar: RunningSidecar;
let acme: Agent;
let globex: Agent;
/** Requests the app is holding (`/slow` never answers), and the most it held at once. */
const holding = new Set<IncomingMessage>();
let peak = 0;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = createServer((req, res) => {
    if (!req.url?.includes("/slow")) return void res.end("fast");
    holding.add(req);
    peak = Math.max(peak, holding.size);
    req.once("close", () => holding.delete(req));
  });
  app.maxConnections = 10_000;
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  mesh.defer(() => new Promise((resolve) => app.close(resolve)));
  const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], url);
  const inbound = config["inbound"] as Record<string, unknown>;
  inbound["limits"] = { concurrentPerTenant: CAP };
  inbound["timeouts"] = { upstream: "60s" };
  sidecar = await mesh.sidecar(config);
  // Held requests end before the sidecar stops, so its drain has nothing to wait for.
  mesh.defer(() => app.closeAllConnections());
  acme = await mesh.client("acme", "web", "orders");
  globex = await mesh.client("globex", "web", "orders");
});

/** Sends one request and walks away after `ms`; resolves with the status if one came first. */
async function abandon(url: string, ms: number): Promise<number | undefined> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    const response = await request(url, { dispatcher: acme, signal: abort.signal });
    await response.body.text();
    return response.statusCode;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

describe("abandoned requests", () => {
  it("abandoned-requests-starve-other-tenants: the app is freed, and globex is answered", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        Array.from({ length: CAP }, () =>
          abandon(`${sidecar.inbound}/tenants/acme/slow`, ABANDON_AFTER_MS),
        ),
      );
    }
    // Every abandoned request to the app was ended, not left to `timeouts.upstream`.
    await eventually(() => holding.size === 0, `the app's requests closed (${holding.size} open)`);
    // One tenant never held more of the app than its cap (slack for close events in flight).
    expect(peak).toBeLessThanOrEqual(2 * CAP);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10_000);
    const response = await request(`${sidecar.inbound}/tenants/globex/fast`, {
      dispatcher: globex,
      signal: abort.signal,
    }).finally(() => clearTimeout(timer));
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe("fast");
  });

  it("abandoned-slots-come-back: slots held by walked-away requests free once the app's end", async () => {
    // Hold the cap with requests the app keeps, then walk away from them: the sidecar ends
    // its requests to the app, and only then are the slots free for acme's next request.
    const gone = Array.from({ length: CAP }, () =>
      abandon(`${sidecar.inbound}/tenants/acme/slow`, 60_000),
    );
    await eventually(() => holding.size === CAP, "the app holding acme's cap");
    const over = await request(`${sidecar.inbound}/tenants/acme/fast`, { dispatcher: acme });
    expect(over.statusCode).toBe(429);
    await over.body.text();
    // Closing the client connections ends the app's requests, then frees the slots.
    await acme.destroy();
    acme = await mesh.client("acme", "web", "orders");
    await Promise.all(gone);
    await eventually(() => holding.size === 0, "the app's requests closed");
    const after = await eventually(async () => {
      const r = await request(`${sidecar.inbound}/tenants/acme/fast`, { dispatcher: acme });
      await r.body.text();
      return r.statusCode === 200 && r.statusCode;
    }, "acme admitted again");
    expect(after).toBe(200);
  });
});
