import { describe, expect, it } from "vitest";
import { mapBounded } from "./bounded.js";

describe("mapBounded", () => {
  it("keeps input order and never has more than `limit` calls in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([...Array(50).keys()], 4, async (n) => {
      most = Math.max(most, ++inFlight);
      // Later items finish first: order must come from the index, not completion.
      await new Promise((resolve) => setImmediate(resolve));
      if (n % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return n * 2;
    });
    expect(out).toEqual([...Array(50).keys()].map((n) => n * 2));
    expect(most).toBe(4);
  });

  it("rejects with the first failure, like Promise.all", async () => {
    const run = mapBounded([1, 2, 3], 2, (n) =>
      n === 2 ? Promise.reject(new Error("two")) : Promise.resolve(n),
    );
    await expect(run).rejects.toThrow("two");
  });

  it("handles an empty list", async () => {
    expect(await mapBounded([], 8, () => Promise.resolve(1))).toEqual([]);
  });

  it("lets the event loop run between batches of synchronous work", async () => {
    const order: string[] = [];
    setImmediate(() => order.push("timer"));
    await mapBounded([...Array(10).keys()], 4, (n) => {
      order.push(String(n));
      return Promise.resolve(n);
    });
    // The first batch of four runs before anything else; the immediate lands after it.
    expect(order.slice(0, 4)).toEqual(["0", "1", "2", "3"]);
    expect(order).toContain("timer");
    expect(order.indexOf("timer")).toBeLessThan(order.length - 1);
  });
});
