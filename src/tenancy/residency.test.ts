import { describe, expect, it } from "vitest";
import { REGION_PATTERN } from "../config/schema.js";
import { allowedEndpoints, inboundResidency, localRegion, servesHere } from "./residency.js";

const eu1 = { url: "eu1", region: "eu" };
const us1 = { url: "us1", region: "us" };
const eu2 = { url: "eu2", region: "eu" };
const ap1 = { url: "ap1", region: "ap" };
const bare = { url: "bare", region: undefined };
const urls = (endpoints: { url: string }[]) => endpoints.map((e) => e.url);

describe("allowedEndpoints", () => {
  it("a tenant pinned to eu never gets a us endpoint, whatever the order", () => {
    expect(urls(allowedEndpoints(["eu"], [us1, eu1, ap1, eu2], "us"))).toEqual(["eu1", "eu2"]);
  });

  it("puts the local region first, then config order (failover stays in the allowed set)", () => {
    expect(urls(allowedEndpoints(["eu", "us"], [eu1, us1, eu2], "us"))).toEqual([
      "us1",
      "eu1",
      "eu2",
    ]);
    expect(urls(allowedEndpoints(undefined, [eu1, us1, bare], "us"))).toEqual([
      "us1",
      "eu1",
      "bare",
    ]);
    expect(urls(allowedEndpoints(undefined, [eu1, us1], undefined))).toEqual(["eu1", "us1"]);
  });

  it("a region-less endpoint is reachable only by unrestricted tenants", () => {
    expect(allowedEndpoints(["eu"], [bare], "eu")).toEqual([]);
    expect(urls(allowedEndpoints(undefined, [bare], "eu"))).toEqual(["bare"]);
  });

  it("no endpoint in the tenant's regions: nothing (a residency violation)", () => {
    expect(allowedEndpoints(["eu"], [us1, ap1], "eu")).toEqual([]);
  });
});

describe("servesHere and inboundResidency", () => {
  it("an unrestricted tenant is served anywhere, a sidecar without region included", () => {
    expect(servesHere(undefined, "us")).toBe(true);
    expect(servesHere(undefined, undefined)).toBe(true);
  });

  it("a restricted tenant only inside its regions, never by a sidecar of unknown region", () => {
    expect(servesHere(["eu"], "eu")).toBe(true);
    expect(servesHere(["eu"], "us")).toBe(false);
    expect(servesHere(["eu"], undefined)).toBe(false);
  });

  it("a grant's regions widen where the owner's data may be served", () => {
    expect(servesHere(["eu"], "us", ["us"])).toBe(true);
    expect(servesHere(["eu"], "ap", ["us"])).toBe(false);
  });

  const regions: Record<string, string[] | undefined> = {
    acme: ["eu"],
    globex: ["us"],
    initech: undefined,
  };
  const check = (
    caller: string,
    target: string | undefined,
    local: string,
    grantRegions?: string[],
  ) =>
    inboundResidency({
      caller,
      target,
      grantRegions,
      localRegion: local,
      regionsOf: (t) => regions[t],
    });

  it("refuses a caller whose regions exclude this sidecar", () => {
    expect(check("acme", undefined, "us")).toEqual({
      ok: false,
      code: "residency_violation",
      tenant: "acme",
    });
    expect(check("acme", "acme", "eu")).toEqual({ ok: true });
  });

  it("refuses serving the target's data outside its regions unless the grant says so", () => {
    expect(check("globex", "acme", "us")).toEqual({
      ok: false,
      code: "residency_violation",
      tenant: "acme",
    });
    expect(check("globex", "acme", "us", ["us"])).toEqual({ ok: true });
    // The grant widens where acme's data goes, never where globex's requests may land.
    expect(check("globex", "acme", "eu", ["eu"])).toEqual({
      ok: false,
      code: "residency_violation",
      tenant: "globex",
    });
    expect(check("initech", "acme", "eu")).toEqual({ ok: true });
  });
});

describe("localRegion", () => {
  const isRegion = (name: string) => REGION_PATTERN.test(name);
  it("the config wins over PALISADE_REGION", () => {
    expect(localRegion({ region: "eu" }, { PALISADE_REGION: "us" }, isRegion)).toEqual({
      region: "eu",
    });
    expect(localRegion({}, { PALISADE_REGION: "us" }, isRegion)).toEqual({ region: "us" });
    expect(localRegion({}, {}, isRegion)).toEqual({ region: undefined });
  });

  it("refuses an environment value that is not a region name, never trimming it", () => {
    for (const value of [" eu", "EU", "eu/west", "eu\n"])
      expect(localRegion({}, { PALISADE_REGION: value }, isRegion).problem).toMatch(
        /not a region name/,
      );
  });
});
