/**
 * The config file's schema: the public contract of DESIGN.md "Config", extended where
 * DESIGN.md is silent. Unknown keys are errors; durations and sizes are parsed here so
 * that nothing downstream ever sees a string where it expects a number.
 */
import { z } from "zod";
import { isTenantId } from "../tenancy/tenant-id.js";
import { foldedName } from "../http/field-name.js";
import { parseDuration, parseSize } from "./units.js";
import { isListenHost, MAX_PORT, parseListen } from "./listen.js";

const duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, {
    message: "expected a duration like 500ms, 30s, 5m",
  })
  .transform((s) => parseDuration(s) as number)
  .meta({ type: "string", pattern: "^\\d+(ms|s|m|h)$" });

const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((s) => typeof s === "number" || parseSize(s) !== undefined, {
    message: "expected a size like 64Ki, 16Mi, 1Gi",
  })
  .transform((s) => (typeof s === "number" ? s : (parseSize(s) as number)));

const tenantId = z.string().refine(isTenantId, { message: "not a tenant id (a DNS label)" });

const dnsName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { message: "expected a lower-case DNS name" });

/**
 * `host:port` or `[v6]:port`, checked as `listen()` will use it: a port Node would throw on
 * or a host that is neither an IP nor a DNS name is a key-path error here, for check, run
 * and reload alike, not a raw bind error at start.
 */
const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: "expected host:port" })
  .refine((s) => parseListen(s).port <= MAX_PORT, { message: "port must be 0-65535" })
  .refine((s) => isListenHost(s), { message: "host must be an IP address or a DNS name" });

const httpUrl = z.url({ protocol: /^https?$/, message: "expected an http(s) URL" });

const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, { message: "expected a lower-case header name" });

/** Where the target tenant is read from. Every configured source that is present must agree. */
const targetRule = z
  .strictObject({
    path: z
      .string()
      .regex(/^\/.*\{tenant\}/, { message: 'expected a path pattern like "/tenants/{tenant}/**"' })
      .optional(),
    host: z
      .string()
      .regex(/\{tenant\}/, { message: 'expected a host pattern like "{tenant}.api.example"' })
      .optional(),
    header: headerName.optional(),
  })
  .default({});

const routeCache = z
  .strictObject({
    enabled: z.boolean().default(false),
    defaultTtl: duration.default(0),
  })
  .default({ enabled: false, defaultTtl: 0 });

const timeouts = z
  .strictObject({
    headers: duration.default(10_000),
    request: duration.default(300_000),
    idle: duration.default(60_000),
    upstream: duration.default(30_000),
  })
  .default({ headers: 10_000, request: 300_000, idle: 60_000, upstream: 30_000 });

/**
 * HTTP/2 sessions on a listener (inbound h2, outbound h2c; docs/http2-grpc-websocket.md).
 * Fixed when the listener starts: a reload does not renegotiate the settings of open sessions.
 */
const http2Limits = z
  .strictObject({
    /** Streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
    maxConcurrentStreams: z.number().int().positive().default(100),
    /**
     * Streams the peer may reset within `resetWindow` before its session is closed with
     * ENHANCE_YOUR_CALM: the rapid-reset attack (CVE-2023-44487) costs work per reset.
     */
    maxResets: z.number().int().positive().default(100),
    resetWindow: duration.default(10_000),
    /** Memory nghttp2 may hold per session (HPACK tables, queued frames), in MiB. */
    maxSessionMemory: z.number().int().positive().default(10),
  })
  .default({
    maxConcurrentStreams: 100,
    maxResets: 100,
    resetWindow: 10_000,
    maxSessionMemory: 10,
  });

const limits = z
  .strictObject({
    requestBody: size.default(16 * 1024 ** 2),
    /** Requests one tenant may have in flight on this listener, so no tenant can starve the rest. */
    concurrentPerTenant: z.number().int().positive().default(128),
    /** Request header fields (HTTP/2 pseudo-headers not counted); more is a 431. Envoy's default. */
    headersCount: z.number().int().positive().default(100),
    http2: http2Limits,
  })
  .prefault({});

/**
 * Inbound also bounds the connections still in their TLS handshake: unauthenticated peers
 * cannot hold more sockets (and TLS state) than this, whatever they send or do not send.
 */
const inboundLimits = limits.unwrap().extend({
  pendingHandshakes: z.number().int().positive().default(1024),
  /** The same per peer address, so one peer cannot take the whole budget and lock others out. */
  pendingHandshakesPerAddress: z.number().int().positive().default(64),
});

const inbound = z.strictObject({
  listen: listen.default("0.0.0.0:15006"),
  app: httpUrl.default("http://127.0.0.1:8080"),
  /**
   * What the local app speaks: HTTP/1.1, or HTTP/2 without TLS by prior knowledge (h2c),
   * which gRPC servers need (trailers, streaming both ways).
   */
  appProtocol: z.enum(["http1", "h2c"]).default("http1"),
  /** Server name this sidecar answers to, per tenant. */
  sni: z.string().default("{tenant}.{service}.{trustDomain}"),
  target: targetRule,
  cache: routeCache,
  /** Tenant headers besides `x-palisade-*` that must never reach the app from the network. */
  stripHeaders: z.array(headerName).default([]),
  /**
   * Routing headers (`forwarded`, `x-forwarded-*`, …) the app may receive from the network;
   * every other one is stripped. Dashed spelling only: other spellings are always stripped.
   */
  allowHeaders: z
    .array(
      headerName
        .refine((name) => foldedName(name) === name, {
          message: "write the dashed spelling; other spellings (`_`, `.`) are always stripped",
        })
        .refine((name) => !name.startsWith("x-palisade-"), {
          message: "x-palisade-* headers never reach the app from the network",
        }),
    )
    .default([]),
  timeouts,
  limits: inboundLimits.prefault({}),
});

const upstream = z.strictObject({
  url: httpUrl,
  sni: z.string().optional(),
  /** The service named in the upstream's SPIFFE id; defaults to the upstream's key. */
  service: dnsName.optional(),
  target: targetRule,
  cache: routeCache,
});

const outbound = z.strictObject({
  listen: listen.default("127.0.0.1:15001"),
  allowUnsignedTenant: z.boolean().default(false),
  upstreams: z.record(dnsName, upstream).default({}),
  timeouts,
  limits,
});

const tenant = z.strictObject({
  ca: z.string().min(1),
  cert: z.string().min(1),
  key: z.string().min(1),
  cache: z
    .strictObject({
      maxBytes: size.default(16 * 1024 ** 2),
      maxEntries: z.number().int().positive().default(10_000),
    })
    .default({ maxBytes: 16 * 1024 ** 2, maxEntries: 10_000 }),
  revoked: z.boolean().default(false),
  /** Per-tenant request rate on each listener (token bucket); absent: unlimited. */
  rateLimit: z
    .strictObject({
      requestsPerSecond: z.number().positive(),
      burst: z.number().int().positive().optional(),
    })
    .optional(),
});

const method = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

const grant = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
  from: tenantId,
  to: tenantId,
  methods: z.array(method).min(1),
  paths: z.array(z.string().regex(/^\//, { message: "expected an absolute path glob" })).min(1),
  fields: z.array(z.string().min(1)).min(1).optional(),
  expires: z.union([z.date(), z.iso.datetime({ offset: true })]).transform((d) => new Date(d)),
  enabled: z.boolean().default(true),
});

const logs = z
  .strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info"),
    /** `stdout`, `stderr`, or a file path relative to the config file. */
    destination: z.string().default("stdout"),
    access: z.boolean().default(true),
  })
  .default({ level: "info", destination: "stdout", access: true });

const telemetry = z
  .strictObject({
    otlp: z
      .strictObject({
        endpoint: httpUrl,
        sampleRatio: z.number().min(0).max(1).default(1),
        headers: z.record(z.string(), z.string()).default({}),
      })
      .optional(),
    logs,
  })
  .default({ logs: { level: "info", destination: "stdout", access: true } });

const anomaly = z
  .strictObject({
    window: duration.default(60_000),
    threshold: z.number().int().positive().default(10),
    /** Distinct targets one caller may be refused for within a window before it is probing. */
    probeTargets: z.number().int().positive().default(5),
    /** A firing alert resolves after this long without new events of its kind. */
    quietPeriod: duration.default(120_000),
    /** Multiple of the caller's own baseline (EWMA of past windows) that a burst must exceed. */
    baselineFactor: z.number().positive().default(3),
    alertmanager: httpUrl.optional(),
    webhook: z.strictObject({ url: httpUrl, secret: z.string().min(16) }).optional(),
    queueSize: z.number().int().positive().default(1000),
  })
  .default({
    window: 60_000,
    threshold: 10,
    probeTargets: 5,
    quietPeriod: 120_000,
    baselineFactor: 3,
    queueSize: 1000,
  });

export const configSchema = z
  .strictObject({
    service: dnsName,
    trustDomain: dnsName,
    inbound: inbound.default(inbound.parse({})),
    outbound: outbound.default(outbound.parse({})),
    admin: z
      .strictObject({ listen: listen.default("127.0.0.1:15000") })
      .default({ listen: "127.0.0.1:15000" }),
    tenants: z.record(tenantId, tenant),
    grants: z.array(grant).default([]),
    cache: z
      .strictObject({
        maxBytes: size.default(256 * 1024 ** 2),
        maxObjectBytes: size.default(1024 ** 2),
      })
      .default({ maxBytes: 256 * 1024 ** 2, maxObjectBytes: 1024 ** 2 }),
    projection: z
      .strictObject({
        /** Largest response one projecting grant buffers. */
        maxBytes: size.default(1024 ** 2),
        /** All responses buffered for projection at once, across the process. */
        maxBufferedBytes: size.default(64 * 1024 ** 2),
      })
      .refine((p) => p.maxBufferedBytes >= p.maxBytes, {
        path: ["maxBufferedBytes"],
        message: "must be at least projection.maxBytes, or a largest response could never fit",
      })
      .default({ maxBytes: 1024 ** 2, maxBufferedBytes: 64 * 1024 ** 2 }),
    context: z.strictObject({ ttl: duration.default(300_000) }).default({ ttl: 300_000 }),
    telemetry,
    anomaly,
    drainTimeout: duration.default(20_000),
    /** Time between failing readiness and closing listeners, so load balancers stop sending. */
    drainDelay: duration.default(0),
  })
  .superRefine((config, ctx) => {
    config.grants.forEach((g, i) => {
      if (g.from === g.to)
        ctx.addIssue({
          code: "custom",
          path: ["grants", i, "to"],
          message: "a grant must cross tenants",
        });
    });
  });

/** The config file as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated config: defaults filled in, durations in ms, sizes in bytes. */
export type Config = z.output<typeof configSchema>;
export type TargetRuleConfig = Config["inbound"]["target"];
export type RouteCacheConfig = Config["inbound"]["cache"];
export type Http2Limits = Config["inbound"]["limits"]["http2"];
export type UpstreamConfig = Config["outbound"]["upstreams"][string];
export type TenantConfig = Config["tenants"][string];
export type GrantConfig = Config["grants"][number];
export type AnomalyConfig = Config["anomaly"];
