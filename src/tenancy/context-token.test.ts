import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ContextTokens } from "./context-token.js";

const context = {
  tenant: "acme",
  caller: "spiffe://mesh.local/tenant/acme/sa/web",
  requestId: "r1",
  expires: 2_000,
};

describe("ContextTokens", () => {
  it("round-trips a token it issued", () => {
    const tokens = new ContextTokens();
    expect(tokens.verify(tokens.issue(context), 1_000)).toEqual({ ok: true, context });
  });

  it("signs with HMAC-SHA-256 under the key it was given", () => {
    const key = Buffer.alloc(32, 7);
    const [payload, mac] = new ContextTokens(key).issue(context).split(".");
    const expected = createHmac("sha256", key)
      .update(payload ?? "")
      .digest("base64url");
    expect(mac).toBe(expected);
    expect(new ContextTokens(Buffer.from(key)).verify(`${payload}.${mac}`, 1_000).ok).toBe(true);
  });

  it("refuses a token from another process key", () => {
    const token = new ContextTokens().issue(context);
    expect(new ContextTokens().verify(token, 1_000)).toEqual({ ok: false, reason: "signature" });
  });

  it("refuses an expired token", () => {
    const tokens = new ContextTokens();
    expect(tokens.verify(tokens.issue(context), 2_000)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses a payload edited to another tenant", () => {
    const tokens = new ContextTokens();
    const [, mac] = tokens.issue(context).split(".");
    const forged = Buffer.from(JSON.stringify({ t: "globex", c: "x", r: "r1", e: 2_000 })).toString(
      "base64url",
    );
    expect(tokens.verify(`${forged}.${mac}`, 1_000)).toEqual({ ok: false, reason: "signature" });
  });

  it.each(["", ".", "a.b.c", "x".repeat(5000), "%%%.%%%"])(
    "refuses malformed token %#",
    (token) => {
      const result = new ContextTokens().verify(token, 1_000);
      expect(result.ok).toBe(false);
    },
  );
});
