import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { requestPolicy, responsePolicy } from "./cacheability.js";
import type { HeaderRecord } from "../http/message.js";

describe("requestPolicy", () => {
  it.each<[string, IncomingHttpHeaders, string]>([
    ["GET", {}, "lookup"],
    ["HEAD", {}, "lookup"],
    ["GET", { "cache-control": "no-store" }, "bypass"],
    ["GET", { "cache-control": "NO-STORE" }, "bypass"],
    ["GET", { "cache-control": "no-cache" }, "refresh"],
    ["GET", { "cache-control": "max-age=0" }, "refresh"],
    ["GET", { "cache-control": "max-age=junk" }, "refresh"],
    ["GET", { pragma: "no-cache" }, "refresh"],
    ["GET", { pragma: "no-cache", "cache-control": "max-age=5" }, "lookup"],
    ["GET", { range: "bytes=0-10" }, "bypass"],
    ["OPTIONS", {}, "bypass"],
    ["get", {}, "bypass"],
  ])("%s %j → %s", (method, headers, kind) => {
    expect(requestPolicy(method, headers).kind).toBe(kind);
  });

  it.each(["POST", "PUT", "PATCH", "DELETE", "PROPPATCH"])("%s invalidates", (method) => {
    expect(requestPolicy(method, {})).toEqual({ kind: "bypass", invalidate: true });
  });

  it.each(["OPTIONS", "TRACE"])("%s does not invalidate", (method) => {
    expect(requestPolicy(method, {})).toEqual({ kind: "bypass", invalidate: false });
  });

  it("carries the request's own freshness limits", () => {
    expect(
      requestPolicy("GET", { "cache-control": "max-age=30, min-fresh=5, only-if-cached" }),
    ).toEqual({ kind: "lookup", maxAgeSeconds: 30, minFreshSeconds: 5, onlyIfCached: true });
  });
});

const NOW = Date.UTC(2026, 0, 1);
const httpDate = (ms: number): string => new Date(ms).toUTCString();

function decide(
  headers: HeaderRecord,
  options: { status?: number; method?: string; request?: IncomingHttpHeaders; ttl?: number } = {},
) {
  const response = { statusCode: options.status ?? 200, headers };
  return responsePolicy(
    options.method ?? "GET",
    options.request ?? {},
    response,
    options.ttl ?? 0,
    NOW,
  );
}

describe("responsePolicy", () => {
  it.each<[string, HeaderRecord, number, string | number]>([
    ["explicit max-age", { "cache-control": "max-age=60" }, 0, 60_000],
    ["s-maxage wins over max-age", { "cache-control": "max-age=60, s-maxage=10" }, 0, 10_000],
    [
      "max-age wins over Expires",
      { "cache-control": "max-age=5", expires: httpDate(NOW + 60_000) },
      0,
      5_000,
    ],
    [
      "Expires − Date",
      { date: httpDate(NOW - 10_000), expires: httpDate(NOW + 50_000) },
      0,
      60_000,
    ],
    ["Expires without Date uses arrival", { expires: httpDate(NOW + 30_000) }, 0, 30_000],
    ["Expires: 0 is expired", { expires: "0" }, 60_000, "stale"],
    [
      "conflicting Expires are expired",
      { expires: [httpDate(NOW + 9e5), httpDate(NOW)] },
      0,
      "stale",
    ],
    [
      "invalid max-age is stale despite defaultTtl",
      { "cache-control": "max-age=x" },
      60_000,
      "stale",
    ],
    ["conflicting max-age is stale", { "cache-control": "max-age=60, max-age=10" }, 0, "stale"],
    ["defaultTtl when nothing explicit", {}, 30_000, 30_000],
    ["nothing explicit, no defaultTtl", {}, 0, "no-freshness"],
    ["public alone needs defaultTtl", { "cache-control": "public" }, 0, "no-freshness"],
    ["no-store", { "cache-control": "max-age=60, no-store" }, 0, "no-store"],
    ["private", { "cache-control": "max-age=60, private" }, 0, "private"],
    ["qualified private", { "cache-control": 'max-age=60, private="x-user"' }, 0, "private"],
    ["no-cache", { "cache-control": "no-cache, max-age=60" }, 0, "no-cache"],
    ["Set-Cookie", { "cache-control": "max-age=60", "set-cookie": ["a=b"] }, 0, "set-cookie"],
    ["Vary: *", { "cache-control": "max-age=60", vary: "accept, *" }, 0, "vary-star"],
    ["Age subtracts to zero", { "cache-control": "max-age=60", age: "60" }, 0, "stale"],
  ])("%s", (_name, headers, ttl, expected) => {
    const decision = decide(headers, { ttl });
    if (typeof expected === "number")
      expect(decision).toMatchObject({ store: true, lifetimeMs: expected });
    else expect(decision).toMatchObject({ store: false, reason: expected });
  });

  it("keeps the upstream Age and Vary names", () => {
    expect(decide({ "cache-control": "max-age=60", age: "10", vary: "X-User, accept" })).toEqual({
      store: true,
      lifetimeMs: 60_000,
      initialAgeMs: 10_000,
      varyNames: ["accept", "x-user"],
    });
  });

  it.each([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])("stores status %i", (status) => {
    expect(decide({}, { status, ttl: 1_000 }).store).toBe(true);
  });

  it.each([201, 206, 302, 304, 400, 403, 500, 502, 503])("never stores status %i", (status) => {
    expect(decide({ "cache-control": "max-age=60" }, { status })).toMatchObject({
      reason: "status",
    });
  });

  it.each(["HEAD", "POST"])("stores only GET responses, not %s", (method) => {
    expect(decide({ "cache-control": "max-age=60" }, { method })).toMatchObject({
      reason: "method",
    });
  });

  describe("with Authorization on the request", () => {
    const request = { authorization: "Bearer t" };
    it.each<[string, boolean]>([
      ["max-age=60", false],
      ["max-age=60, public", true],
      ["s-maxage=60", true],
      // RFC 9111 would allow it; DESIGN.md does not, and Palisade never revalidates.
      ["max-age=60, must-revalidate", false],
    ])("%s → stored %s", (cc, stored) => {
      expect(decide({ "cache-control": cc }, { request }).store).toBe(stored);
    });

    it("defaultTtl alone does not make it storable", () => {
      expect(decide({}, { request, ttl: 60_000 })).toMatchObject({ reason: "authorization" });
    });
  });
});
