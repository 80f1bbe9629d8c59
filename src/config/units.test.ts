import { describe, expect, it } from "vitest";
import { parseDuration, parseSize } from "./units.js";

describe("units", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["0s", 0],
  ])("duration %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "5", "5 s", "1.5s", "-1s", "5S", "5d", " 5s"])("not a duration: %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    ["512", 512],
    ["64Ki", 65_536],
    ["16Mi", 16 * 1024 ** 2],
    ["1Gi", 1024 ** 3],
  ])("size %s", (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(["", "1.5Mi", "16MB", "16mi", "-1", "1 Ki"])("not a size: %j", (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});
