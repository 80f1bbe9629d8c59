import { once } from "node:events";
import { describe, expect, it } from "vitest";
import {
  FRESH,
  consume,
  harness,
  manualOrigin,
  origin,
  request,
  response,
  text,
} from "./test-support.js";

describe("TenantHttpCache: storing and serving", () => {
  it("misses, then hits with Age and the stored body", async () => {
    const { serve, advance } = harness();
    const up = origin((n) => response({ ...FRESH, "content-type": "text/plain" }, `body ${n}`));
    const first = await consume(await serve(request("acme"), up.fetch));
    expect(first).toMatchObject({ outcome: "miss", text: "body 1" });
    expect(first.headers["x-palisade-cache"]).toBe("miss");
    advance(2_500);
    const second = await consume(await serve(request("acme"), up.fetch));
    expect(second).toMatchObject({ outcome: "hit", statusCode: 200, text: "body 1" });
    expect(second.headers).toMatchObject({
      "x-palisade-cache": "hit",
      age: "2",
      "content-length": "6",
    });
    expect(up.calls()).toBe(1);
  });

  it("adds the upstream Age and expires on time", async () => {
    const { serve, advance } = harness();
    const up = origin(() => response({ ...FRESH, age: "10" }, "x"));
    await consume(await serve(request("acme"), up.fetch));
    advance(5_000);
    expect((await consume(await serve(request("acme"), up.fetch))).headers["age"]).toBe("15");
    advance(44_999);
    expect((await serve(request("acme"), up.fetch)).outcome).toBe("hit");
    advance(1);
    expect((await consume(await serve(request("acme"), up.fetch))).outcome).toBe("miss");
    expect(up.calls()).toBe(2);
  });

  it("uses the route's defaultTtl only without explicit freshness", async () => {
    const { serve, advance } = harness();
    const up = origin(() => response({}, "x"));
    await consume(await serve(request("acme"), up.fetch, 10_000));
    advance(9_000);
    expect((await serve(request("acme"), up.fetch, 10_000)).outcome).toBe("hit");
    const none = origin(() => response({}, "x"));
    await consume(await serve(request("acme", { url: "/other" }), none.fetch));
    expect((await serve(request("acme", { url: "/other" }), none.fetch)).outcome).toBe("miss");
  });

  it("serves HEAD from a stored GET, without a body", async () => {
    const { serve } = harness();
    const up = origin(() => response(FRESH, "hello"));
    await consume(await serve(request("acme"), up.fetch));
    const head = await consume(await serve(request("acme", { method: "HEAD" }), up.fetch));
    expect(head).toMatchObject({ outcome: "hit", text: "" });
    expect(head.headers["content-length"]).toBe("5");
    expect(up.calls()).toBe(1);
  });

  it("does not store a HEAD response", async () => {
    const { serve } = harness();
    const up = origin(() => response(FRESH, ""));
    await consume(await serve(request("acme", { method: "HEAD" }), up.fetch));
    expect((await consume(await serve(request("acme"), up.fetch))).outcome).toBe("miss");
    expect(up.calls()).toBe(2);
  });

  it.each([
    ["Set-Cookie", { ...FRESH, "set-cookie": ["sid=1"] }, {}],
    ["private", { "cache-control": "private, max-age=60" }, {}],
    ["no-store", { "cache-control": "no-store, max-age=60" }, {}],
    ["Authorization without public", FRESH, { authorization: "Bearer alice" }],
  ])("never stores: %s", async (_name, headers, requestHeaders) => {
    const { serve } = harness();
    const up = origin((n) => response(headers, `for caller ${n}`));
    await consume(await serve(request("acme", { headers: requestHeaders }), up.fetch));
    const second = await consume(await serve(request("acme"), up.fetch));
    expect(second).toMatchObject({ outcome: "miss", text: "for caller 2" });
  });

  it("stores an authorized response the upstream marked public", async () => {
    const { serve } = harness();
    const up = origin(() => response({ "cache-control": "public, max-age=60" }, "shared"));
    await consume(
      await serve(request("acme", { headers: { authorization: "Bearer a" } }), up.fetch),
    );
    expect((await serve(request("acme"), up.fetch)).outcome).toBe("hit");
  });

  it("serves a credentialed request only what the upstream marked public or s-maxage", async () => {
    const { serve } = harness();
    const alice = request("acme", { headers: { authorization: "Bearer alice" } });
    const anonymous = origin((n) => response({}, `anonymous ${n}`));
    await consume(await serve(request("acme"), anonymous.fetch, 60_000));
    expect((await serve(request("acme"), anonymous.fetch, 60_000)).outcome).toBe("hit");
    const personal = await consume(await serve(alice, anonymous.fetch, 60_000));
    expect(personal).toMatchObject({ outcome: "miss", text: "anonymous 2" });
    expect(anonymous.calls()).toBe(2);

    const shared = origin(() => response({ "cache-control": "s-maxage=60" }, "catalog"));
    const url = "/catalog";
    await consume(await serve(request("acme", { url }), shared.fetch));
    const hit = await consume(
      await serve(request("acme", { url, headers: { authorization: "Bearer a" } }), shared.fetch),
    );
    expect(hit).toMatchObject({ outcome: "hit", text: "catalog" });
  });

  it("keeps Vary variants apart and serves each its own", async () => {
    const { serve } = harness();
    const up = origin((n) => response({ ...FRESH, vary: "X-User" }, `variant ${n}`));
    const as = (user: string) => request("acme", { headers: { "x-user": user } });
    expect((await consume(await serve(as("alice"), up.fetch))).text).toBe("variant 1");
    expect((await consume(await serve(as("bob"), up.fetch))).text).toBe("variant 2");
    expect(await consume(await serve(as("alice"), up.fetch))).toMatchObject({
      outcome: "hit",
      text: "variant 1",
    });
    expect(await consume(await serve(as("bob"), up.fetch))).toMatchObject({
      outcome: "hit",
      text: "variant 2",
    });
    expect(up.calls()).toBe(2);
  });

  it("cache-vary-cross-tenant: same URL and Vary values never cross tenants", async () => {
    const { serve } = harness();
    const up = origin((n) => response({ ...FRESH, vary: "x-user" }, `tenant data ${n}`));
    const as = (tenant: string) => request(tenant, { headers: { "x-user": "u1" } });
    await consume(await serve(as("acme"), up.fetch));
    expect(await consume(await serve(as("globex"), up.fetch))).toMatchObject({
      outcome: "miss",
      text: "tenant data 2",
    });
    expect((await consume(await serve(as("acme"), up.fetch))).text).toBe("tenant data 1");
  });

  it("cache-target-header-cross-tenant: a granted target's response never answers the caller's own", async () => {
    const { serve } = harness();
    const up = origin((n) => response(FRESH, `data ${n}`));
    const granted = { ...request("acme"), targetTenant: "globex" };
    const own = { ...request("acme"), targetTenant: "acme" };
    expect((await consume(await serve(granted, up.fetch))).text).toBe("data 1");
    expect(await consume(await serve(own, up.fetch))).toMatchObject({
      outcome: "miss",
      text: "data 2",
    });
    expect(await consume(await serve(granted, up.fetch))).toMatchObject({
      outcome: "hit",
      text: "data 1",
    });
  });

  it("strips hop-by-hop headers from the stored entry", async () => {
    const { serve } = harness();
    const headers = {
      ...FRESH,
      connection: "x-trace",
      "x-trace": "1",
      "keep-alive": "5",
      etag: '"e"',
    };
    const up = origin(() => response(headers, "x"));
    await consume(await serve(request("acme"), up.fetch));
    const hit = await consume(await serve(request("acme"), up.fetch));
    expect(Object.keys(hit.headers).sort()).toEqual(
      ["age", "cache-control", "content-length", "etag", "x-palisade-cache"].sort(),
    );
  });

  it("answers a matching If-None-Match with 304", async () => {
    const { serve } = harness();
    const up = origin(() => response({ ...FRESH, etag: '"v1"' }, "x"));
    await consume(await serve(request("acme"), up.fetch));
    const revalidate = request("acme", { headers: { "if-none-match": 'W/"v1"' } });
    expect(await consume(await serve(revalidate, up.fetch))).toMatchObject({
      statusCode: 304,
      text: "",
    });
  });

  it("goes upstream for a no-cache request and keeps the fresh answer", async () => {
    const { serve } = harness();
    const up = origin((n) => response(FRESH, `v${n}`));
    await consume(await serve(request("acme"), up.fetch));
    const refresh = request("acme", { headers: { "cache-control": "no-cache" } });
    expect(await consume(await serve(refresh, up.fetch))).toMatchObject({
      outcome: "miss",
      text: "v2",
    });
    expect((await consume(await serve(request("acme"), up.fetch))).text).toBe("v2");
  });

  it("bypasses a no-store request and answers only-if-cached misses with 504", async () => {
    const { serve } = harness();
    const up = origin(() => response(FRESH, "x"));
    const noStore = request("acme", { headers: { "cache-control": "no-store" } });
    expect((await consume(await serve(noStore, up.fetch))).outcome).toBe("bypass");
    const onlyCached = request("acme", { headers: { "cache-control": "only-if-cached" } });
    expect((await consume(await serve(onlyCached, up.fetch))).statusCode).toBe(504);
    expect(up.calls()).toBe(1);
  });

  it("bypasses tenants without a partition", async () => {
    const { serve } = harness();
    const up = origin(() => response(FRESH, "x"));
    await consume(await serve(request("initech"), up.fetch));
    expect((await serve(request("initech"), up.fetch)).outcome).toBe("bypass");
  });
});

describe("TenantHttpCache: unsafe methods and purges", () => {
  it("a POST invalidates the URL for its tenant only", async () => {
    const { serve } = harness();
    const up = origin((n) => response(FRESH, `v${n}`));
    await consume(await serve(request("acme"), up.fetch));
    await consume(await serve(request("globex"), up.fetch));
    const post = await consume(await serve(request("acme", { method: "POST" }), up.fetch));
    expect(post.outcome).toBe("bypass");
    expect((await consume(await serve(request("acme"), up.fetch))).outcome).toBe("miss");
    expect((await consume(await serve(request("globex"), up.fetch))).outcome).toBe("hit");
  });

  it("invalidates a same-origin Location of a successful POST", async () => {
    const { serve } = harness();
    const up = origin(() => response(FRESH, "x"));
    await consume(await serve(request("acme", { url: "/orders/1" }), up.fetch));
    const created = origin(() => response({ location: "/orders/1" }, "", 201));
    await consume(await serve(request("acme", { method: "POST", url: "/orders" }), created.fetch));
    expect((await serve(request("acme", { url: "/orders/1" }), up.fetch)).outcome).toBe("miss");
  });

  it("a response in flight during a DELETE is not stored after it", async () => {
    const { serve } = harness();
    const slow = manualOrigin(FRESH);
    const get = await serve(request("acme"), slow.fetch);
    await consume(
      await serve(request("acme", { method: "DELETE" }), origin(() => response({}, "")).fetch),
    );
    slow.body.end("old");
    expect((await consume(get)).text).toBe("old");
    const after = origin(() => response(FRESH, "new"));
    expect((await consume(await serve(request("acme"), after.fetch))).outcome).toBe("miss");
  });

  it("a purge stops an in-flight fill too", async () => {
    const { serve, http } = harness();
    const slow = manualOrigin(FRESH);
    const get = await serve(request("acme"), slow.fetch);
    expect(http.purge("acme", "/tenants/")).toBe(0);
    slow.body.end("old");
    await consume(get);
    expect((await serve(request("acme"), origin(() => response(FRESH, "")).fetch)).outcome).toBe(
      "miss",
    );
  });
});

describe("TenantHttpCache: streaming", () => {
  it("passes the first bytes on before the upstream body ends", async () => {
    const { serve } = harness();
    const up = manualOrigin(FRESH);
    const { response: res } = await serve(request("acme"), up.fetch);
    up.body.write("first ");
    const [chunk] = (await once(res.body, "data")) as [Buffer];
    expect(chunk.toString()).toBe("first ");
    up.body.end("last");
    expect(await text(res.body)).toBe("last");
    expect((await serve(request("acme"), up.fetch)).outcome).toBe("hit");
  });

  it("streams an oversized body to the client but does not store it", async () => {
    const { serve } = harness(1_000);
    const big = "x".repeat(5_000);
    const up = origin(() => response(FRESH, big));
    expect((await consume(await serve(request("acme"), up.fetch))).text).toBe(big);
    expect((await consume(await serve(request("acme"), up.fetch))).outcome).toBe("miss");
    expect(up.calls()).toBe(2);
  });

  it("does not store a body that aborted mid-stream, and the client sees the error", async () => {
    const { serve } = harness();
    const up = manualOrigin(FRESH);
    const { response: res } = await serve(request("acme"), up.fetch);
    const read = text(res.body);
    up.body.write("partial");
    up.body.destroy(new Error("upstream reset"));
    await expect(read).rejects.toThrow("upstream reset");
    const next = origin(() => response(FRESH, "whole"));
    expect(await consume(await serve(request("acme"), next.fetch))).toMatchObject({
      outcome: "miss",
    });
  });

  it("does not store a body shorter than its Content-Length", async () => {
    const { serve } = harness();
    const up = origin(() => response({ ...FRESH, "content-length": "10" }, "short"));
    await consume(await serve(request("acme"), up.fetch));
    expect((await serve(request("acme"), up.fetch)).outcome).toBe("miss");
  });

  it("stops reading upstream when the client goes away", async () => {
    const { serve } = harness();
    const up = manualOrigin(FRESH);
    const { response: res } = await serve(request("acme"), up.fetch);
    up.body.write("a");
    res.body.destroy();
    await new Promise((resolve) => up.body.once("close", resolve));
    expect(up.body.destroyed).toBe(true);
  });
});
