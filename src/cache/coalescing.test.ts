import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { UpstreamResponse } from "../http/message.js";
import { FRESH, consume, harness, origin, request, response } from "./test-support.js";

/** An upstream whose responses are released by the test, one body stream per call. */
function gatedOrigin(headers: (call: number) => Record<string, string>) {
  const bodies: PassThrough[] = [];
  const up = origin((n) => {
    const body = new PassThrough();
    bodies.push(body);
    return response(headers(n), body);
  });
  return { ...up, bodies };
}

const N = 10;

describe("TenantHttpCache: coalescing", () => {
  it("N concurrent misses of one tenant make one fetch; the rest are served the stored entry", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => FRESH);
    const results = Array.from({ length: N }, () => serve(request("acme"), up.fetch));
    const leader = await results[0]!;
    up.bodies[0]!.end("shared");
    expect((await consume(leader)).outcome).toBe("miss");
    const rest = await Promise.all(results.slice(1).map(async (r) => consume(await r)));
    expect(rest.map((r) => [r.outcome, r.text])).toEqual(Array(N - 1).fill(["hit", "shared"]));
    expect(up.calls()).toBe(1);
  });

  it("never coalesces across tenants", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => FRESH);
    const acme = serve(request("acme"), up.fetch);
    const globex = serve(request("globex"), up.fetch);
    const [a, g] = [await acme, await globex];
    expect(up.calls()).toBe(2);
    up.bodies[0]!.end("acme data");
    up.bodies[1]!.end("globex data");
    expect((await consume(a)).text).toBe("acme data");
    expect((await consume(g)).text).toBe("globex data");
  });

  it("never coalesces across key spaces: an inbound miss does not wait on an upstream's fill", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => FRESH);
    const outbound = { space: "outbound billing", base: "https://billing:15006" };
    const fromUpstream = serve({ ...request("acme"), ...outbound }, up.fetch);
    // The same URL, as a peer naming the upstream's host:port would spell it inbound.
    const fromPeer = serve({ ...request("acme"), base: outbound.base }, up.fetch);
    // A miss calls fetch() before its first wait: a parked waiter would not have.
    expect(up.calls()).toBe(2);
    const [u, p] = [await fromUpstream, await fromPeer];
    up.bodies[0]!.end("billing data");
    up.bodies[1]!.end("app data");
    expect((await consume(u)).text).toBe("billing data");
    expect((await consume(p)).text).toBe("app data");
  });

  it("never shares a response that was not stored: each waiter fetches its own", async () => {
    const { serve } = harness();
    const up = origin((n) => response({ "cache-control": "private, max-age=60" }, `private ${n}`));
    const results = await Promise.all(
      Array.from({ length: 4 }, async () => consume(await serve(request("acme"), up.fetch))),
    );
    expect(new Set(results.map((r) => r.text)).size).toBe(4);
    expect(results.every((r) => r.outcome === "miss")).toBe(true);
    expect(up.calls()).toBe(4);
  });

  it("never shares across Vary variants", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => ({ ...FRESH, vary: "x-user" }));
    const alice = serve(request("acme", { headers: { "x-user": "alice" } }), up.fetch);
    const bob = serve(request("acme", { headers: { "x-user": "bob" } }), up.fetch);
    const aliceAgain = serve(request("acme", { headers: { "x-user": "alice" } }), up.fetch);
    up.bodies[0]!.end("for alice");
    expect((await consume(await alice)).text).toBe("for alice");
    const bobResult = await bob; // bob's own fetch starts once alice's entry is stored
    up.bodies[1]!.end("for bob");
    expect(await consume(bobResult)).toMatchObject({ outcome: "miss", text: "for bob" });
    expect(await consume(await aliceAgain)).toMatchObject({ outcome: "hit", text: "for alice" });
    expect(up.calls()).toBe(2);
  });

  it("waiters fetch for themselves when the leader's body aborts", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => FRESH);
    const leader = serve(request("acme"), up.fetch);
    const waiter = serve(request("acme"), up.fetch);
    const leaderBody = consume(await leader);
    up.bodies[0]!.write("half");
    up.bodies[0]!.destroy(new Error("reset"));
    await expect(leaderBody).rejects.toThrow("reset");
    const fallback = await waiter;
    up.bodies[1]!.end("whole");
    expect(await consume(fallback)).toMatchObject({ outcome: "miss", text: "whole" });
    expect(up.calls()).toBe(2);
  });

  it("waiters fetch for themselves when the leader's fetch fails", async () => {
    const { serve } = harness();
    let calls = 0;
    const fetch = (): Promise<UpstreamResponse> =>
      ++calls === 1
        ? Promise.reject(new Error("upstream_unavailable"))
        : Promise.resolve(response(FRESH, "ok"));
    const leader = serve(request("acme"), fetch);
    const waiter = serve(request("acme"), fetch);
    await expect(leader).rejects.toThrow("upstream_unavailable");
    expect((await consume(await waiter)).text).toBe("ok");
    expect(calls).toBe(2);
  });

  it("a HEAD waits for a GET in flight and is answered from its entry", async () => {
    const { serve } = harness();
    const up = gatedOrigin(() => FRESH);
    const get = serve(request("acme"), up.fetch);
    const head = serve(request("acme", { method: "HEAD" }), up.fetch);
    up.bodies[0]!.end("body");
    await consume(await get);
    expect(await consume(await head)).toMatchObject({ outcome: "hit", text: "" });
    expect(up.calls()).toBe(1);
  });
});
