import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ProjectionBudget } from "./projection-budget.js";

async function exceeded(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric("palisade_projection_budget_exceeded_total")?.get();
  return metric?.values[0]?.value ?? 0;
}

describe("ProjectionBudget", () => {
  it("holds leases up to the limit across the process", async () => {
    const registry = new Registry();
    const budget = new ProjectionBudget(registry);
    const a = budget.lease(100);
    const b = budget.lease(100);
    expect(a.hold(60)).toBe(true);
    expect(b.hold(50)).toBe(false);
    expect(b.bytes).toBe(0);
    expect(b.hold(40)).toBe(true);
    expect(budget.heldBytes).toBe(100);
    expect(await exceeded(registry)).toBe(1);
  });

  it("grows and shrinks one lease by the difference", () => {
    const budget = new ProjectionBudget(new Registry());
    const lease = budget.lease(100);
    expect(lease.hold(30)).toBe(true);
    expect(lease.hold(90)).toBe(true);
    expect(lease.hold(101)).toBe(false);
    expect(lease.bytes).toBe(90);
    expect(lease.hold(10)).toBe(true);
    expect(budget.heldBytes).toBe(10);
  });

  it("releases once, never below zero, and a released lease holds nothing", () => {
    const budget = new ProjectionBudget(new Registry());
    const lease = budget.lease(100);
    lease.hold(70);
    lease.release();
    lease.release();
    expect(budget.heldBytes).toBe(0);
    expect(lease.hold(10)).toBe(false);
    expect(budget.heldBytes).toBe(0);
  });

  it("a lowered limit refuses new bytes but keeps what is held", () => {
    const budget = new ProjectionBudget(new Registry());
    const old = budget.lease(100);
    old.hold(80);
    const next = budget.lease(50);
    expect(next.hold(1)).toBe(false);
    expect(old.hold(40)).toBe(true);
    old.release();
    expect(next.hold(50)).toBe(true);
    expect(budget.heldBytes).toBe(50);
  });

  it("exports the bytes held as a gauge", async () => {
    const registry = new Registry();
    const budget = new ProjectionBudget(registry);
    budget.lease(100).hold(42);
    expect(await registry.metrics()).toMatch(/^palisade_projection_buffered_bytes 42$/m);
  });
});
