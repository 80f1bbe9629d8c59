/**
 * A short, fixed-seed run of the fuzzer (`npm run fuzz` runs long ones): the invariants it
 * checks hold on a few hundred wire inputs and a few thousand paths, and the oracle that
 * judges them is itself able to fail.
 */
import { expect, it } from "vitest";
import { runFuzz, checkReceived } from "./fuzz/fuzz.js";
import { appTarget } from "./fuzz/oracle.js";

it("fuzzing the parsers, path checks and decisions finds no violation", async () => {
  const summary = await runFuzz({ seed: 20261201, iterations: 400, seconds: 60 });
  expect(summary.violations).toEqual([]);
  expect(summary.wireInputs).toBeGreaterThan(100);
  expect(summary.reachedApp).toBeGreaterThan(10);
}, 180_000);

it("the oracle sees what a naive app would route to", () => {
  expect(appTarget("/tenants/acme/x")).toBe("acme");
  expect(appTarget("/tenants/acme/../globex/x")).toBe("globex");
  expect(appTarget("/%EF%BD%94enants/globex/x")).toBe("globex");
  expect(appTarget("/tenant%C5%BF/globex/x")).toBe("globex");
  expect(appTarget("/orders")).toBeUndefined();
});

it("the invariants flag a request that reached the app under another tenant", () => {
  const seen = (headers: Record<string, string>, url = "/tenants/acme/x") => ({
    method: "GET",
    url,
    body: "",
    headers: {
      host: "orders.mesh.local",
      "x-palisade-tenant": "acme",
      "x-palisade-caller": "spiffe://mesh.local/tenant/acme/sa/orders",
      ...headers,
    },
  });
  expect(checkReceived(seen({}), "acme")).toEqual([]);
  expect(checkReceived(seen({}, "/tenants/globex/x"), "acme")).toHaveLength(1);
  expect(checkReceived(seen({ "x-palisade-tenant": "globex" }), "acme").length).toBeGreaterThan(0);
  expect(checkReceived(seen({ x_forwarded_host: "globex" }), "acme")).toHaveLength(1);
  expect(checkReceived(seen({ host: "a:1@b" }), "acme")).toHaveLength(1);
});
