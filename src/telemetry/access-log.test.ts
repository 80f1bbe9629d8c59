import { describe, expect, it } from "vitest";
import { newRecord, type Decision } from "../path/record.js";
import { passes, sampled } from "./access-log.js";

function served(decision: Decision, status: number, tenant = "acme") {
  const record = newRecord("inbound", "GET", [], "HTTP/1.1");
  record.requestId = "r-1";
  record.decision = decision;
  record.status = status;
  record.tenant = tenant;
  return record;
}

describe("access filter", () => {
  it("passes everything with no filter and ratio 1", () => {
    expect(passes(served("allow", 200), { sampleRatio: 1 })).toBe(true);
  });

  it("narrows by decision, status class and caller tenant, all at once", () => {
    const filter = {
      decisions: ["grant" as const],
      statusClasses: ["2xx" as const, "5xx" as const],
      tenants: ["globex"],
      sampleRatio: 1,
    };
    expect(passes(served("grant", 200, "globex"), filter)).toBe(true);
    expect(passes(served("grant", 503, "globex"), filter)).toBe(true);
    expect(passes(served("allow", 200, "globex"), filter)).toBe(false);
    expect(passes(served("grant", 404, "globex"), filter)).toBe(false);
    expect(passes(served("grant", 200, "acme"), filter)).toBe(false);
  });

  it("samples none at 0 and all at 1", () => {
    expect(passes(served("allow", 200), { sampleRatio: 0 })).toBe(false);
    for (let i = 0; i < 100; i++) {
      expect(sampled(`id-${String(i)}`, 0)).toBe(false);
      expect(sampled(`id-${String(i)}`, 1)).toBe(true);
    }
  });

  it("samples about the ratio, the same way for the same id", () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `${String(i)}-req`);
    const kept = ids.filter((id) => sampled(id, 0.1)).length;
    expect(kept).toBeGreaterThan(800);
    expect(kept).toBeLessThan(1200);
    expect(ids.map((id) => sampled(id, 0.1))).toEqual(ids.map((id) => sampled(id, 0.1)));
  });
});
