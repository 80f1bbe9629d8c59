/**
 * `x-palisade-context`: a short-lived token binding a request to the tenant the inbound
 * side proved. The app copies it onto its outbound calls; the outbound side accepts only
 * tokens this process minted (HMAC-SHA-256, per-process key), so an app bug cannot turn
 * one tenant's request into another tenant's call.
 *
 * Format: base64url(JSON payload) "." base64url(HMAC over the first part).
 */
import {
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { isTenantId } from "./tenant-id.js";

export interface TenantContext {
  /** The tenant the request is made for (the proved caller tenant). */
  tenant: string;
  /** The caller's SPIFFE id. */
  caller: string;
  requestId: string;
  /** Expiry, milliseconds since the epoch. */
  expires: number;
}

export type VerifyResult =
  | { ok: true; context: TenantContext }
  | { ok: false; reason: "malformed" | "signature" | "expired" };

const MAX_TOKEN_LENGTH = 2048;

export class ContextTokens {
  /**
   * Imported once: `createHmac` with a raw Buffer copies and imports the key on every call.
   * The Hmac object itself cannot be reused (digest finalises it), and building it is most
   * of a token's cost, so nothing more is cached.
   */
  readonly #key: KeyObject;

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = createSecretKey(key);
  }

  issue(context: TenantContext): string {
    const payload = Buffer.from(
      JSON.stringify({
        t: context.tenant,
        c: context.caller,
        r: context.requestId,
        e: context.expires,
      }),
    ).toString("base64url");
    return `${payload}.${createHmac("sha256", this.#key).update(payload).digest("base64url")}`;
  }

  verify(token: string, now: number): VerifyResult {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "malformed" };
    const dot = token.indexOf(".");
    if (dot <= 0 || dot !== token.lastIndexOf(".")) return { ok: false, reason: "malformed" };
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1), "base64url");
    const expected = this.#mac(payload);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      return { ok: false, reason: "signature" };
    }
    const context = decodePayload(payload);
    if (!context) return { ok: false, reason: "malformed" };
    if (context.expires <= now) return { ok: false, reason: "expired" };
    return { ok: true, context };
  }

  #mac(payload: string): Buffer {
    return createHmac("sha256", this.#key).update(payload).digest();
  }
}

function decodePayload(payload: string): TenantContext | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { t, c, r, e } = value as Record<string, unknown>;
  if (typeof t !== "string" || !isTenantId(t)) return undefined;
  if (typeof c !== "string" || typeof r !== "string" || typeof e !== "number") return undefined;
  return { tenant: t, caller: c, requestId: r, expires: e };
}
