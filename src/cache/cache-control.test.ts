import { describe, expect, it } from "vitest";
import { deltaSeconds, parseCacheControl, parseHttpDate } from "./cache-control.js";

const parse = (value: string | string[]): Record<string, string | true> =>
  Object.fromEntries(parseCacheControl(value));

describe("parseCacheControl", () => {
  it.each<[string | string[], Record<string, string | true>]>([
    ["max-age=60", { "max-age": "60" }],
    ["Max-Age=60, PUBLIC", { "max-age": "60", public: true }],
    ['max-age="60"', { "max-age": "60" }],
    ['private="set-cookie, x-a", max-age=5', { private: "set-cookie, x-a", "max-age": "5" }],
    ['no-cache="a\\"b"', { "no-cache": 'a"b' }],
    [["max-age=10", "s-maxage=20"], { "max-age": "10", "s-maxage": "20" }],
    ["max-age=10, max-age=10", { "max-age": "10" }],
    ["max-age=10, max-age=20", { "max-age": "" }],
    [" , ,, public ,", { public: true }],
    ["max-age = 30", { "max-age": "30" }],
    ["max-age=60 public", { "max-age": "60 public" }],
    ['max-age="60"junk', { "max-age": "" }],
    ['max-age="60', { "max-age": "" }],
    ["ma x-age=60, @@@, no-store", { "no-store": true }],
    ["", {}],
  ])("%j", (value, expected) => {
    expect(parse(value)).toEqual(expected);
  });

  it("reads absent as no directives", () => {
    expect(parseCacheControl(undefined).size).toBe(0);
  });
});

describe("deltaSeconds", () => {
  it.each<[string, number | undefined]>([
    ["max-age=60", 60],
    ["public", undefined],
    ["max-age", 0],
    ["max-age=-1", 0],
    ["max-age=1.5", 0],
    ["max-age=abc", 0],
    ["max-age=10, max-age=20", 0],
    ["max-age=99999999999999", 2_147_483_648],
  ])("%s → %s", (value, expected) => {
    expect(deltaSeconds(parseCacheControl(value), "max-age")).toBe(expected);
  });
});

describe("parseHttpDate", () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
  it.each<[string, number | undefined]>([
    ["Sun, 06 Nov 1994 08:49:37 GMT", expected],
    ["Sunday, 06-Nov-94 08:49:37 GMT", expected],
    ["Sun Nov  6 08:49:37 1994", expected],
    ["0", undefined],
    ["-1", undefined],
    ["2024-01-01T00:00:00Z", undefined],
    ["Sun, 06 Foo 1994 08:49:37 GMT", undefined],
    ["Sun, 06 Nov 1994 25:49:37 GMT", undefined],
  ])("%j", (value, result) => {
    expect(parseHttpDate(value)).toBe(result);
  });
});
