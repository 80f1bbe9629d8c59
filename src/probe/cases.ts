/**
 * The attacks `palisade probe` makes, one case each: what it sends, what a sidecar that
 * keeps tenants apart answers, and what was seen. A case passes only on the expected
 * refusal (or, for the few honest cases, on an answer from the app); anything that reached
 * the app where it must not is a leak.
 */
import { connect as tlsConnect } from "node:tls";
import type { ForgedIdentity, TenantPki } from "./identities.js";
import {
  openTcp,
  requestText,
  timeUntilClosed,
  tlsExchange,
  type ClientIdentity,
  type Endpoint,
  type Seen,
} from "./wire.js";

export interface ProbeContext {
  endpoint: Endpoint;
  serverName: string | undefined;
  /** The `Host` the probe sends. */
  authority: string;
  self: TenantPki;
  other: TenantPki;
  /** The path prefix that names a tenant's resources (`/tenants/acme`). */
  prefix(tenant: string): string;
  forged: ForgedIdentity[];
  timeoutMs: number;
  /** How long a socket that sends nothing may stay open before the case fails. */
  deadlineMs: number;
  allowWrites: boolean;
  nonce: string;
}

export interface CaseResult {
  name: string;
  group: string;
  expected: string;
  seen: string;
  pass: boolean;
  /** Skipped cases carry why, and neither pass nor fail. */
  skipped?: string;
}

export interface ProbeCase {
  name: string;
  group: string;
  expected: string;
  /** Writes are sent only with `--allow-writes`. */
  writes?: boolean;
  run(ctx: ProbeContext): Promise<{ seen: string; pass: boolean }>;
}

type Header = readonly [string, string];

// ---------------------------------------------------------------------------------------
// Sending and judging

export function send(
  ctx: ProbeContext,
  identity: ClientIdentity | undefined,
  method: string,
  target: string,
  extra: readonly Header[] = [],
  options: { host?: string | null; body?: string } = {},
): Promise<Seen> {
  const host = options.host === undefined ? ctx.authority : options.host;
  const headers: Header[] = [
    ...(host === null ? [] : [["Host", host] as const]),
    ...extra,
    ["Connection", "close"],
  ];
  return tlsExchange(
    ctx.endpoint,
    {
      ...(identity ? { identity } : {}),
      ...(ctx.serverName ? { serverName: ctx.serverName } : {}),
    },
    requestText(method, target, headers, options.body),
    ctx.timeoutMs,
  );
}

/** The refusal code when the answer is Palisade's JSON refusal, else undefined. */
export function refusalCode(seen: Seen): string | undefined {
  const body = seen.response?.body;
  if (!body?.startsWith("{")) return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: unknown; requestId?: unknown };
    return typeof parsed.error === "string" && typeof parsed.requestId === "string"
      ? parsed.error
      : undefined;
  } catch {
    return undefined;
  }
}

function describe(seen: Seen): string {
  if (!seen.response) return `no answer (${seen.failure ?? "closed"})`;
  const code = refusalCode(seen);
  const cache = seen.response.headers.get("x-palisade-cache");
  return code !== undefined
    ? `${seen.response.status} ${code}`
    : `${seen.response.status} from the app${cache ? ` (cache ${cache})` : ""}`;
}

/** Passes on a Palisade refusal with one of `codes` (any code when none are given). */
function refused(seen: Seen, ...codes: string[]): { seen: string; pass: boolean } {
  const code = refusalCode(seen);
  const pass = code !== undefined && (codes.length === 0 || codes.includes(code));
  return { seen: describe(seen), pass };
}

/** Refused at the handshake (no HTTP answer at all) or by a Palisade refusal. */
function notServed(seen: Seen): { seen: string; pass: boolean } {
  return { seen: describe(seen), pass: !seen.response || refusalCode(seen) !== undefined };
}

function probePath(ctx: ProbeContext, tenant: string, leaf = `palisade-probe/${ctx.nonce}`) {
  return `${ctx.prefix(tenant)}/${leaf}`;
}

// ---------------------------------------------------------------------------------------
// The cases

/** The first bytes of a TLS ClientHello that promises 512 bytes and never sends them. */
const HALF_CLIENT_HELLO = Buffer.from("1603010200010001fc0303" + "00".repeat(16), "hex");

function deadline(
  name: string,
  expected: string,
  open: (ctx: ProbeContext) => Promise<number | undefined>,
): ProbeCase {
  return {
    name,
    group: "deadlines",
    expected,
    async run(ctx) {
      const ms = await open(ctx);
      return ms === undefined
        ? { seen: `still open after ${Math.round(ctx.deadlineMs / 1000)}s`, pass: false }
        : { seen: `closed after ${(ms / 1000).toFixed(1)}s`, pass: true };
    },
  };
}

const deadlineCases: ProbeCase[] = [
  deadline("silent-tcp-connection", "closed by the sidecar", (ctx) =>
    timeUntilClosed(openTcp(ctx.endpoint), undefined, ctx.deadlineMs),
  ),
  deadline("half-client-hello", "closed by the sidecar", (ctx) =>
    timeUntilClosed(openTcp(ctx.endpoint), HALF_CLIENT_HELLO, ctx.deadlineMs),
  ),
  deadline("handshake-then-silence", "closed by the sidecar", (ctx) => {
    const socket = tlsConnect({
      host: ctx.endpoint.host,
      port: ctx.endpoint.port,
      ...(ctx.serverName ? { servername: ctx.serverName } : {}),
      cert: ctx.self.svid.certPem,
      key: ctx.self.svid.keyPem,
      rejectUnauthorized: false,
    });
    return timeUntilClosed(socket, undefined, ctx.deadlineMs);
  }),
];

function identityCases(ctx: ProbeContext): ProbeCase[] {
  const cases: ProbeCase[] = [
    {
      name: "no-client-certificate",
      group: "identity",
      expected: "refused at the handshake",
      run: async (c) => notServed(await send(c, undefined, "GET", probePath(c, c.self.tenant))),
    },
  ];
  for (const forged of ctx.forged) {
    const tenant = forged.claims === "self" ? ctx.self.tenant : ctx.other.tenant;
    cases.push({
      name: forged.name,
      group: "identity",
      expected: forged.legitimate ? "served (an honest chain)" : "refused at the handshake",
      async run(c) {
        const seen = await send(c, forged.identity, "GET", probePath(c, tenant));
        if (!forged.legitimate) return notServed(seen);
        return { seen: describe(seen), pass: !!seen.response && refusalCode(seen) === undefined };
      },
    });
  }
  return cases;
}

/** A request as the probing tenant; `pass` when refused with one of `codes`. */
function asSelf(
  name: string,
  group: string,
  expected: string,
  request: (ctx: ProbeContext) => {
    method?: string;
    target: string;
    headers?: readonly Header[];
    host?: string | null;
    body?: string;
  },
  codes: string[],
  writes = false,
): ProbeCase {
  return {
    name,
    group,
    expected,
    writes,
    async run(ctx) {
      const r = request(ctx);
      const options = {
        ...(r.host === undefined ? {} : { host: r.host }),
        ...(r.body ? { body: r.body } : {}),
      };
      const seen = await send(ctx, ctx.self.svid, r.method ?? "GET", r.target, r.headers, options);
      return refused(seen, ...codes);
    },
  };
}

const manyHeaders = (n: number): Header[] =>
  Array.from({ length: n }, (_, i) => [`x-probe-${i}`, "1"] as const);

const requestCases: ProbeCase[] = [
  asSelf(
    "cross-tenant-read",
    "grants",
    "403 cross_tenant_denied",
    (c) => ({
      target: probePath(c, c.other.tenant),
    }),
    ["cross_tenant_denied"],
  ),
  ...["POST", "PUT", "DELETE"].map((method) =>
    asSelf(
      `cross-tenant-${method.toLowerCase()}`,
      "grants",
      "403 cross_tenant_denied",
      (c) => ({
        method,
        target: probePath(c, c.other.tenant),
        headers: [
          ["Content-Length", "2"],
          ["Content-Type", "application/json"],
        ],
        body: "{}",
      }),
      ["cross_tenant_denied"],
      true,
    ),
  ),
  asSelf(
    "spoofed-tenant-header",
    "reserved headers",
    "403 tenant_context_mismatch",
    (c) => ({
      target: probePath(c, c.other.tenant),
      headers: [["x-palisade-tenant", c.other.tenant]],
    }),
    ["tenant_context_mismatch"],
  ),
  asSelf(
    "underscore-tenant-header",
    "reserved headers",
    "403 tenant_context_mismatch",
    (c) => ({
      target: probePath(c, c.other.tenant),
      headers: [["x-palisade_tenant", c.other.tenant]],
    }),
    ["tenant_context_mismatch"],
  ),
  asSelf(
    "dotted-tenant-header",
    "reserved headers",
    "403 tenant_context_mismatch",
    (c) => ({
      target: probePath(c, c.other.tenant),
      // PHP reads `x.palisade.tenant` as HTTP_X_PALISADE_TENANT.
      headers: [["x.palisade.tenant", c.other.tenant]],
    }),
    ["tenant_context_mismatch"],
  ),
  asSelf(
    "connection-named-tenant-header",
    "reserved headers",
    "403 tenant_context_mismatch",
    (c) => ({
      target: probePath(c, c.other.tenant),
      headers: [
        ["Connection", "x-palisade-tenant"],
        ["x-palisade-tenant", c.other.tenant],
      ],
    }),
    ["tenant_context_mismatch"],
  ),
  asSelf(
    "forged-context-token",
    "reserved headers",
    "403, never served as the other tenant",
    (c) => ({
      target: probePath(c, c.other.tenant),
      headers: [
        [
          "x-palisade-context",
          `v1.${Buffer.from(`{"tenant":"${c.other.tenant}"}`).toString("base64url")}.AAAA`,
        ],
      ],
    }),
    ["cross_tenant_denied", "tenant_context_invalid", "tenant_context_mismatch"],
  ),
  asSelf(
    "header-count-flood",
    "limits",
    "431 headers_too_large",
    (c) => ({
      target: probePath(c, c.self.tenant),
      headers: manyHeaders(1000),
    }),
    ["headers_too_large"],
  ),
  asSelf(
    "content-length-behind-header-flood",
    "limits",
    "431 headers_too_large",
    (c) => ({
      method: "GET",
      target: probePath(c, c.self.tenant),
      headers: [...manyHeaders(1000), ["Content-Length", "5"]],
      body: "hello",
    }),
    ["headers_too_large"],
  ),
  asSelf(
    "oversized-header",
    "limits",
    "431 headers_too_large",
    (c) => ({
      target: probePath(c, c.self.tenant),
      headers: [["x-probe", "a".repeat(20 * 1024)]],
    }),
    ["headers_too_large"],
  ),
  asSelf(
    "userinfo-in-host",
    "authority",
    "400 bad_request",
    (c) => ({
      target: probePath(c, c.self.tenant),
      host: `${c.self.tenant}.example:1@${c.other.tenant}.example`,
    }),
    ["bad_request"],
  ),
  asSelf(
    "empty-label-in-host",
    "authority",
    "400 bad_request",
    (c) => ({ target: probePath(c, c.self.tenant), host: `${c.other.tenant}.example..` }),
    ["bad_request"],
  ),
  asSelf(
    "path-in-host",
    "authority",
    "400 bad_request",
    (c) => ({
      target: probePath(c, c.self.tenant),
      host: `${c.authority}/${c.prefix(c.other.tenant).replace(/^\//, "")}`,
    }),
    ["bad_request"],
  ),
  asSelf(
    "duplicate-host",
    "smuggling",
    "400 bad_request",
    (c) => ({
      target: probePath(c, c.self.tenant),
      headers: [["Host", `${c.other.tenant}.example`]],
    }),
    ["bad_request"],
  ),
  asSelf(
    "content-length-and-chunked",
    "smuggling",
    "400 bad_request",
    (c) => ({
      target: probePath(c, c.self.tenant),
      headers: [
        ["Content-Length", "4"],
        ["Transfer-Encoding", "chunked"],
      ],
      body: `0\r\n\r\nGET ${probePath(c, c.other.tenant)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    }),
    ["bad_request"],
  ),
  asSelf(
    "conflicting-content-lengths",
    "smuggling",
    "400 bad_request",
    (c) => ({
      target: probePath(c, c.self.tenant),
      headers: [
        ["Content-Length", "0"],
        ["Content-Length", "5"],
      ],
      body: "hello",
    }),
    ["bad_request"],
  ),
];

/** Spellings of "the other tenant's resources" that an app (or its framework) may normalise. */
function pathVariants(ctx: ProbeContext): Array<[string, string]> {
  const own = ctx.prefix(ctx.self.tenant);
  const theirs = ctx.prefix(ctx.other.tenant);
  const rest = theirs.replace(/^\//, "");
  const fullwidth = (ch: string) =>
    encodeURIComponent(String.fromCodePoint((ch.codePointAt(0) ?? 0x21) - 0x21 + 0xff01));
  const first = rest.charAt(0);
  const variants: Array<[string, string]> = [
    ["dot-segment", `${own}/../../${rest}/x`],
    ["encoded-dot-segment", `${own}/%2e%2e/%2E%2E/${rest}/x`],
    ["encoded-slash", `${own}%2F..%2F..%2F${rest.replaceAll("/", "%2F")}/x`],
    ["backslash", `${own}/..\\..\\${rest}/x`],
    ["fullwidth-dot-segment", `${own}/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/${rest}/x`],
    ["fullwidth-solidus", `${own}%EF%BC%8F..%EF%BC%8F..%EF%BC%8F${rest}/x`],
  ];
  const hex = (ch: string) => (ch.codePointAt(0) ?? 0).toString(16).padStart(2, "0");
  const slash = rest.indexOf("/");
  variants.push(["path-parameter-empty-segment", `/;x${theirs}/x`]);
  // Disguises of the literal before the tenant, when the prefix has one.
  if (slash > 0) {
    variants.push(
      ["encoded-semicolon-in-literal", `/${rest.slice(0, slash)}%3Bx${rest.slice(slash)}/x`],
      ["double-encoded-prefix-literal", `/%25${hex(first)}${rest.slice(1)}/x`],
      ["soft-hyphen-in-prefix-literal", `/${rest.slice(0, 1)}%C2%AD${rest.slice(1)}/x`],
    );
  }
  if (/[a-z]/.test(first)) {
    variants.push(["fullwidth-prefix-literal", `/${fullwidth(first)}${rest.slice(1)}/x`]);
  }
  const s = rest.indexOf("s");
  if (s >= 0 && s < rest.indexOf("/")) {
    variants.push(["long-s-prefix-literal", `/${rest.slice(0, s)}%C5%BF${rest.slice(s + 1)}/x`]);
  }
  return variants;
}

function pathCases(ctx: ProbeContext): ProbeCase[] {
  return pathVariants(ctx).map(([name, target]) =>
    asSelf(name, "paths", "4xx refusal, never the app", () => ({ target }), []),
  );
}

const cacheCases: ProbeCase[] = [
  {
    name: "cross-tenant-cache-read",
    group: "cache",
    expected: "403 cross_tenant_denied, never a cached copy",
    async run(ctx) {
      const target = probePath(ctx, ctx.self.tenant, `palisade-probe/cache-${ctx.nonce}`);
      const warm = await send(ctx, ctx.self.svid, "GET", target);
      const firstHit = warm.response?.headers.get("x-palisade-cache") === "hit";
      await send(ctx, ctx.self.svid, "GET", target);
      const seen = await send(ctx, ctx.other.svid, "GET", target);
      if (firstHit) return { seen: "a fresh key was already cached", pass: false };
      return refused(seen, "cross_tenant_denied");
    },
  },
];

export function probeCases(ctx: ProbeContext): ProbeCase[] {
  return [
    ...deadlineCases,
    ...identityCases(ctx),
    ...requestCases,
    ...pathCases(ctx),
    ...cacheCases,
  ];
}
