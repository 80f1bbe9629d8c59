import { describe, expect, it } from "vitest";
import type { Generation } from "../config/generation.js";
import type { RequestContext } from "../path/context.js";
import type { ProxyError } from "../path/errors.js";
import { readHeaders } from "../path/request-head.js";
import { NOW, testContext, testGeneration } from "../path/test-support.js";
import { ContextTokens } from "../tenancy/context-token.js";
import { callTenant } from "./call-tenant.js";

const tokens = new ContextTokens();
const signed = testGeneration(["acme", "globex", "initech"], {}, ["initech"]);
const unsigned = testGeneration(
  ["acme", "globex", "initech"],
  {
    outbound: { allowUnsignedTenant: true },
  },
  ["initech"],
);

function token(tenant: string, expires = NOW + 60_000): string {
  return tokens.issue({
    tenant,
    caller: `spiffe://mesh.local/tenant/${tenant}/sa/web`,
    requestId: "req-from-inbound",
    expires,
  });
}

/** The app's call with `headers`, its head read as the outbound path does. */
function call(generation: Generation, headers: [string, string][]): RequestContext {
  const ctx = testContext("outbound", generation, {
    headers: [["host", "billing"], ...headers],
    tokens,
  });
  readHeaders(ctx);
  return ctx;
}

function refusal(ctx: RequestContext): { code: string; suspicious: boolean } | undefined {
  try {
    callTenant(ctx);
    return undefined;
  } catch (err) {
    const { code, suspicious } = err as ProxyError;
    return { code, suspicious };
  }
}

describe("callTenant", () => {
  it("takes the tenant from the signed context, and its request id when the app sent none", () => {
    const ctx = call(signed, [["x-palisade-context", token("acme")]]);
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.tenant).toBe("acme");
    expect(ctx.record).toMatchObject({ tenant: "acme", requestId: "req-from-inbound" });
  });

  it("confused-deputy: a signed context and another tenant asserted is a mismatch", () => {
    const ctx = call(signed, [
      ["x-palisade-context", token("acme")],
      ["x-palisade-tenant", "globex"],
    ]);
    expect(refusal(ctx)).toEqual({ code: "tenant_context_mismatch", suspicious: true });
    expect(ctx.record.tenant).toBe("acme");
  });

  it("forged-context: a token that does not verify is invalid and suspicious", () => {
    const forged = new ContextTokens().issue({
      tenant: "globex",
      caller: "spiffe://mesh.local/tenant/globex/sa/web",
      requestId: "r",
      expires: NOW + 60_000,
    });
    expect(refusal(call(signed, [["x-palisade-context", forged]]))).toEqual({
      code: "tenant_context_invalid",
      suspicious: true,
    });
  });

  it("an expired context is invalid, but an honest app's mistake: no anomaly signal", () => {
    expect(refusal(call(signed, [["x-palisade-context", token("acme", NOW - 1)]]))).toEqual({
      code: "tenant_context_invalid",
      suspicious: false,
    });
  });

  it("a repeated context is invalid, even when both copies verify", () => {
    const ctx = call(signed, [
      ["x-palisade-context", token("acme")],
      ["x-palisade-context", token("acme")],
    ]);
    expect(refusal(ctx)?.code).toBe("tenant_context_invalid");
  });

  it("a plain tenant is refused unless allowUnsignedTenant, then only a configured one", () => {
    expect(refusal(call(signed, [["x-palisade-tenant", "acme"]]))?.code).toBe(
      "tenant_context_missing",
    );
    const ctx = call(unsigned, [["x-palisade-tenant", "acme"]]);
    expect(refusal(ctx)).toBeUndefined();
    expect(ctx.tenant).toBe("acme");
    expect(refusal(call(unsigned, [["x-palisade-tenant", "umbrella"]]))?.code).toBe(
      "tenant_context_invalid",
    );
  });

  it("revoked-tenant: a revoked tenant's call never leaves, signed or not", () => {
    expect(refusal(call(signed, [["x-palisade-context", token("initech")]]))?.code).toBe(
      "tenant_revoked",
    );
    const plain = call(unsigned, [["x-palisade-tenant", "initech"]]);
    expect(refusal(plain)?.code).toBe("tenant_revoked");
    expect(plain.record.tenant).toBeUndefined();
  });

  it("no context at all is tenant_context_missing", () => {
    expect(refusal(call(signed, []))?.code).toBe("tenant_context_missing");
  });
});
