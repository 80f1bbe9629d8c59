import { describe, expect, it } from "vitest";
import type { RequestContext } from "../path/context.js";
import type { ProxyError } from "../path/errors.js";
import { readHeaders } from "../path/request-head.js";
import { testContext, testGeneration } from "../path/test-support.js";
import { stripReserved } from "./strip-reserved.js";

const generation = testGeneration(["acme", "globex"], {
  inbound: {
    app: "http://127.0.0.1:8080",
    target: { path: "/tenants/{tenant}/**" },
    stripHeaders: ["x-tenant-id"],
  },
});

/** A request from acme's certificate with `headers`, its head read as the inbound path does. */
function fromAcme(headers: [string, string][]): RequestContext {
  const ctx = testContext("inbound", generation, { headers: [["host", "orders"], ...headers] });
  readHeaders(ctx);
  ctx.tenant = "acme";
  return ctx;
}

function refusal(ctx: RequestContext): string | undefined {
  try {
    stripReserved(ctx);
    return undefined;
  } catch (err) {
    return (err as ProxyError).code;
  }
}

describe("stripReserved", () => {
  it("lets a peer assert the tenant its certificate proves, and forwards none of it", () => {
    const ctx = fromAcme([["x-palisade-tenant", "acme"]]);
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record.spoofed).toBeUndefined();
    expect(Object.keys(ctx.headers.forward)).toEqual(["host"]);
  });

  it("spoofed-tenant-header: another tenant asserted is tenant_context_mismatch", () => {
    expect(refusal(fromAcme([["x-palisade-tenant", "globex"]]))).toBe("tenant_context_mismatch");
  });

  it("spoofed-tenant-header: a CGI spelling of the name is the same header", () => {
    expect(refusal(fromAcme([["X_Palisade_Tenant", "globex"]]))).toBe("tenant_context_mismatch");
  });

  it("spoofed-tenant-header: the right tenant twice is still a mismatch, not a pick", () => {
    const twice = fromAcme([
      ["x-palisade-tenant", "acme"],
      ["x-palisade-tenant", "acme"],
    ]);
    expect(refusal(twice)).toBe("tenant_context_mismatch");
  });

  it("records other reserved names and configured aliases as spoofing, in order, and serves", () => {
    const ctx = fromAcme([
      ["x-palisade-caller", "spiffe://mesh.local/tenant/globex/sa/web"],
      ["x-tenant-id", "globex"],
      ["x-palisade-context", "forged"],
    ]);
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record.spoofed).toEqual(["x-palisade-caller", "x-tenant-id", "x-palisade-context"]);
    expect(Object.keys(ctx.headers.forward)).toEqual(["host"]);
  });

  it("records no spoofing when it refuses: the mismatch is the one record", () => {
    const ctx = fromAcme([
      ["x-palisade-caller", "forged"],
      ["x-palisade-tenant", "globex"],
    ]);
    expect(refusal(ctx)).toBe("tenant_context_mismatch");
    expect(ctx.record.spoofed).toBeUndefined();
  });

  it("records stripped routing headers as noise, not spoofing", () => {
    const ctx = fromAcme([
      ["x-forwarded-host", "globex.example"],
      ["forwarded", "host=globex.example"],
    ]);
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.record.spoofed).toBeUndefined();
    expect(ctx.record.routingStripped).toEqual(["x-forwarded-host", "forwarded"]);
  });
});
