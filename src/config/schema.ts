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
    error: "expected a duration like 500ms, 30s, 5m",
  })
  .transform((s) => parseDuration(s) as number)
  .meta({ type: "string", pattern: "^\\d+(ms|s|m|h)$" });

const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((s) => typeof s === "number" || parseSize(s) !== undefined, {
    error: "expected a size like 64Ki, 16Mi, 1Gi",
  })
  .transform((s) => (typeof s === "number" ? s : (parseSize(s) as number)));

const tenantId = z.string().refine(isTenantId, { error: "not a tenant id (a DNS label)" });

/** A region name (`eu`, `us-east-1`): a DNS label, compared exactly. */
export const REGION_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const region = z.string().regex(REGION_PATTERN, { error: "expected a region name (a DNS label)" });
const regions = z.array(region).min(1);

const dnsName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { error: "expected a lower-case DNS name" });

/**
 * `host:port` or `[v6]:port`, checked as `listen()` will use it: a port Node would throw on
 * or a host that is neither an IP nor a DNS name is a key-path error here, for check, run
 * and reload alike, not a raw bind error at start.
 */
const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: "expected host:port" })
  .refine((s) => parseListen(s).port <= MAX_PORT, { error: "port must be 0-65535" })
  .refine((s) => isListenHost(s), { error: "host must be an IP address or a DNS name" });

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });

const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, { error: "expected a lower-case header name" });

/** Where the target tenant is read from. Every configured source that is present must agree. */
const targetRule = z
  .strictObject({
    path: z
      .string()
      .regex(/^\/.*\{tenant\}/, { error: 'expected a path pattern like "/tenants/{tenant}/**"' })
      .optional()
      .describe(
        "path pattern naming the target tenant in one segment, e.g. `/tenants/{tenant}/**`",
      ),
    host: z
      .string()
      .regex(/\{tenant\}/, { error: 'expected a host pattern like "{tenant}.api.example"' })
      .optional()
      .describe(
        "`Host` pattern naming the target tenant in one label, e.g. `{tenant}.api.example`",
      ),
    header: headerName
      .optional()
      .describe("request header naming the target tenant, e.g. `x-target-tenant`"),
  })
  .default({})
  .describe(
    "where a request names the tenant that owns the resource; every source present must agree (else `400 ambiguous_target`); none: every request counts as the caller's own",
  );

const routeCache = z
  .strictObject({
    enabled: z.boolean().default(false).describe("cache GET responses, one partition per tenant"),
    defaultTtl: duration
      .default(0)
      .describe(
        "freshness given to responses that state none; `0s` stores only explicit freshness",
      ),
  })
  .default({ enabled: false, defaultTtl: 0 });

const timeouts = z
  .strictObject({
    headers: duration
      .default(10_000)
      .describe(
        "from accept to the end of the request head (inbound: TLS handshake included); then `408`",
      ),
    request: duration.default(300_000).describe("a whole request, body included; then `408`"),
    idle: duration
      .default(60_000)
      .describe("from the end of a response to the next request head; then the connection closes"),
    upstream: duration
      .default(30_000)
      .describe(
        "wait for the response of the app (inbound) or the upstream (outbound); then `504 upstream_timeout`",
      ),
  })
  .default({ headers: 10_000, request: 300_000, idle: 60_000, upstream: 30_000 });

/**
 * HTTP/2 sessions on a listener (inbound h2, outbound h2c; docs/http2-grpc-websocket.md).
 * Fixed when the listener starts: a reload does not renegotiate the settings of open sessions.
 */
const http2Limits = z
  .strictObject({
    /** Streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
    maxConcurrentStreams: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe("streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS)"),
    /**
     * Streams the peer may reset within `resetWindow` before its session is closed with
     * ENHANCE_YOUR_CALM: the rapid-reset attack (CVE-2023-44487) costs work per reset.
     */
    maxResets: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe(
        "resets of unanswered streams per `resetWindow` before the session is closed (rapid reset)",
      ),
    resetWindow: duration.default(10_000).describe("the window `maxResets` is counted over"),
    /** Memory nghttp2 may hold per session (HPACK tables, queued frames), in MiB. */
    maxSessionMemory: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe("memory nghttp2 may hold per session (HPACK tables, queued frames), in MiB"),
  })
  .default({
    maxConcurrentStreams: 100,
    maxResets: 100,
    resetWindow: 10_000,
    maxSessionMemory: 10,
  });

const limits = z
  .strictObject({
    requestBody: size
      .default(16 * 1024 ** 2)
      .describe("largest request body; larger: `413 body_too_large`"),
    /** Requests one tenant may have in flight on this listener, so no tenant can starve the rest. */
    concurrentPerTenant: z
      .number()
      .int()
      .positive()
      .default(128)
      .describe(
        "requests one tenant may have in flight on the listener; beyond: `429 rate_limited`",
      ),
    /** Request header fields (HTTP/2 pseudo-headers not counted); more is a 431. Envoy's default. */
    headersCount: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe(
        "request header fields (HTTP/2 pseudo-headers not counted; outbound counts the fields it stamps); more: `431 headers_too_large`",
      ),
    http2: http2Limits.describe(
      "HTTP/2 sessions on the listener; fixed at start (docs/http2-grpc-websocket.md)",
    ),
  })
  .prefault({});

/**
 * Inbound also bounds the connections still in their TLS handshake: unauthenticated peers
 * cannot hold more sockets (and TLS state) than this, whatever they send or do not send.
 */
const inboundLimits = limits.unwrap().extend({
  pendingHandshakes: z
    .number()
    .int()
    .positive()
    .default(1024)
    .describe(
      "connections at once that have not finished their TLS handshake; beyond, closed at accept (`pending_handshakes_limit`)",
    ),
  /** The same per peer address, so one peer cannot take the whole budget and lock others out. */
  pendingHandshakesPerAddress: z
    .number()
    .int()
    .positive()
    .default(64)
    .describe(
      "the same per peer address; beyond, closed at accept (`pending_handshakes_per_address_limit`)",
    ),
});

const inbound = z.strictObject({
  listen: listen
    .default("0.0.0.0:15006")
    .describe("`host:port` of the mTLS listener for peer sidecars; fixed at start"),
  app: httpUrl.default("http://127.0.0.1:8080").describe("the local app's URL"),
  /**
   * What the local app speaks: HTTP/1.1, or HTTP/2 without TLS by prior knowledge (h2c),
   * which gRPC servers need (trailers, streaming both ways).
   */
  appProtocol: z
    .enum(["http1", "h2c"])
    .default("http1")
    .describe(
      "what the app speaks: `http1`, or `h2c` (HTTP/2 by prior knowledge; gRPC apps need it)",
    ),
  /** Server name this sidecar answers to, per tenant. */
  sni: z
    .string()
    .default("{tenant}.{service}.{trustDomain}")
    .describe(
      "server name per tenant; selects the tenant's certificate (placeholders `{tenant}`, `{service}`, `{trustDomain}`)",
    ),
  target: targetRule,
  cache: routeCache,
  /** Tenant headers besides `x-palisade-*` that must never reach the app from the network. */
  stripHeaders: z
    .array(headerName)
    .default([])
    .describe(
      "tenant headers besides `x-palisade-*` never accepted from the network, e.g. `x-tenant-id`",
    ),
  /**
   * Routing headers (`forwarded`, `x-forwarded-*`, …) the app may receive from the network;
   * every other one is stripped. Dashed spelling only: other spellings are always stripped.
   */
  allowHeaders: z
    .array(
      headerName
        .refine((name) => foldedName(name) === name, {
          error: "write the dashed spelling; other spellings (`_`, `.`) are always stripped",
        })
        .refine((name) => !name.startsWith("x-palisade-"), {
          error: "x-palisade-* headers never reach the app from the network",
        }),
    )
    .default([])
    .describe(
      "routing headers (`forwarded`, `x-forwarded-*`, …) the app may still receive from the network, dashed lower-case names; every other one is stripped",
    ),
  timeouts,
  limits: inboundLimits.prefault({}),
});

/** One address of an upstream, in one region (residency: tenancy/residency.ts). */
const endpoint = z.strictObject({
  url: httpUrl.describe("the peer sidecar's inbound listener, `https://host:port[/prefix]`"),
  region: region.describe("the region this endpoint serves from"),
});

const upstream = z
  .strictObject({
    /** One endpoint with no region: reachable only by tenants without `regions`. */
    url: httpUrl
      .optional()
      .describe(
        "the peer sidecar's inbound listener, `https://host:port[/prefix]`; no region, so only tenants without `regions` reach it",
      ),
    endpoints: z
      .array(endpoint)
      .min(1)
      .optional()
      .describe(
        "instead of `url`: region-labelled endpoints; a tenant uses only those in its `regions`, local region first, failing over in order",
      ),
    sni: z
      .string()
      .optional()
      .describe("server name sent upstream; default `{tenant}.{service}.{trustDomain}`"),
    /** The service named in the upstream's SPIFFE id; defaults to the upstream's key. */
    service: dnsName
      .optional()
      .describe("service the upstream's SVID must name; default the upstream's key"),
    target: targetRule,
    cache: routeCache,
  })
  .superRefine((u, ctx) => {
    if ((u.url === undefined) === (u.endpoints === undefined))
      ctx.addIssue({
        code: "custom",
        path: [u.url === undefined ? "url" : "endpoints"],
        message: "an upstream has exactly one of url and endpoints",
      });
  });

const outbound = z.strictObject({
  listen: listen
    .default("127.0.0.1:15001")
    .describe("`host:port` of the plain-HTTP listener for the app's calls; keep it on loopback"),
  allowUnsignedTenant: z
    .boolean()
    .default(false)
    .describe(
      "accept a bare `x-palisade-tenant` from the app (background jobs) instead of the signed context",
    ),
  upstreams: z
    .record(dnsName, upstream)
    .default({})
    .describe("services the app may call, by the name it uses as `Host`"),
  timeouts,
  limits,
});

const tenant = z.strictObject({
  ca: z.string().min(1).describe("file: the tenant's CA bundle"),
  cert: z
    .string()
    .min(1)
    .describe("file: this service's SVID for the tenant, intermediates may follow the leaf"),
  key: z.string().min(1).describe("file: the SVID's private key"),
  cache: z
    .strictObject({
      maxBytes: size.default(16 * 1024 ** 2).describe("bytes of the tenant's cache partition"),
      maxEntries: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe("entries of the tenant's cache partition"),
    })
    .default({ maxBytes: 16 * 1024 ** 2, maxEntries: 10_000 }),
  revoked: z
    .boolean()
    .default(false)
    .describe("`true`: refused at once, open connections included"),
  /** Regions this tenant's calls and data stay in; absent: unrestricted. */
  regions: regions
    .optional()
    .describe("regions this tenant's calls and data stay in; absent: unrestricted"),
  /** Per-tenant request rate on each listener (token bucket); absent: unlimited. */
  rateLimit: z
    .strictObject({
      requestsPerSecond: z.number().positive().describe("token bucket refill rate"),
      burst: z
        .number()
        .int()
        .positive()
        .optional()
        .describe("bucket size; default one second's worth"),
    })
    .optional()
    .describe("per listener; over it, `429 rate_limited`; absent: unlimited"),
});

const method = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** `redact`, `hash` or `truncate:N` (N a positive integer): tenancy/projection.ts. */
const mask = z.union([
  z.enum(["redact", "hash"]),
  z.string().regex(/^truncate:[1-9][0-9]{0,8}$/, {
    error: 'expected redact, hash or "truncate:N" with N a positive integer',
  }),
]);

/** A field path (`owner.email`, `items[].id`), or one whose value leaves masked. */
const field = z.union([z.string().min(1), z.strictObject({ path: z.string().min(1), mask })]);

const grant = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional()
    .describe("name in audit logs and metrics; default `<from>-><to>#<index>`"),
  from: tenantId.describe("caller tenant"),
  to: tenantId.describe("target tenant (must differ from `from`)"),
  methods: z.array(method).min(1).describe("methods allowed; `HEAD` comes with `GET`"),
  paths: z
    .array(z.string().regex(/^\//, { error: "expected an absolute path glob" }))
    .min(1)
    .describe("globs over the canonical path: `*` one segment, `**` zero or more"),
  fields: z
    .array(field)
    .min(1)
    .optional()
    .describe(
      'JSON projection: only these fields leave (`a.b`, `a[]`, `a[].b`), each a path or `{ path, mask: redact | hash | "truncate:N" }`; absent: whole body',
    ),
  expires: z
    .union([z.date(), z.iso.datetime({ offset: true })])
    .transform((d) => new Date(d))
    .describe("RFC 3339 time with offset; from then on the grant allows nothing"),
  enabled: z.boolean().default(true).describe("a reloadable switch"),
  /** `audit`: evaluated and recorded as `would_allow`, never allows anything. */
  mode: z
    .enum(["enforce", "audit"])
    .default("enforce")
    .describe("`audit`: evaluated, counted and logged as `would_allow`, allows nothing"),
  /** Regions this grant's data may also be served in, beyond the owner's `regions`. */
  regions: regions
    .optional()
    .describe("regions this grant's data may also be served in, beyond the owner's `regions`"),
});

/** Every field narrows; a served request is logged when it passes all of them. */
const accessFilter = z
  .strictObject({
    decisions: z
      .array(z.enum(["allow", "grant"]))
      .min(1)
      .optional()
      .describe("only requests served with these decisions (`allow`, `grant`); absent: all"),
    statusClasses: z
      .array(z.enum(["1xx", "2xx", "3xx", "4xx", "5xx"]))
      .min(1)
      .optional()
      .describe("only responses of these status classes; absent: all"),
    tenants: z
      .array(tenantId)
      .min(1)
      .optional()
      .describe("only requests of these caller tenants; absent: all"),
    sampleRatio: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe("share of the served requests passing the filter that are logged, at random"),
  })
  .default({ sampleRatio: 1 });

const logs = z
  .strictObject({
    level: z
      .enum(["trace", "debug", "info", "warn", "error", "silent"])
      .default("info")
      .describe("lowest level written"),
    /** `stdout`, `stderr`, or a file path relative to the config file. */
    destination: z
      .string()
      .default("stdout")
      .describe("`stdout`, `stderr`, or a file (relative to the config file); fixed at start"),
    access: z
      .boolean()
      .default(true)
      .describe("one access line per served request; refusals are logged whatever this says"),
    accessFilter: accessFilter.describe(
      "which served requests get an access line (when `access` is on); refusals always do",
    ),
  })
  .default({
    level: "info",
    destination: "stdout",
    access: true,
    accessFilter: { sampleRatio: 1 },
  });

const telemetry = z
  .strictObject({
    otlp: z
      .strictObject({
        endpoint: httpUrl.describe("OTLP/HTTP collector base URL"),
        sampleRatio: z
          .number()
          .min(0)
          .max(1)
          .default(1)
          .describe(
            "share of traces Palisade starts that are sampled (reloads); a parent's decision wins",
          ),
        headers: z
          .record(z.string(), z.string())
          .default({})
          .describe("headers sent with each export (e.g. an API key; redacted in `/config`)"),
      })
      .optional()
      .describe(
        "OTLP/HTTP trace export, endpoint and headers fixed at start; absent: the `OTEL_EXPORTER_OTLP_*` variables, and without them no tracer at all",
      ),
    logs: logs.describe("JSON-lines logs: access, audit and event"),
    peers: z
      .array(dnsName)
      .default([])
      .describe(
        "calling services named as the `peer` metric label, besides this service and the upstream names; others are `unknown`",
      ),
  })
  .default({
    logs: { level: "info", destination: "stdout", access: true, accessFilter: { sampleRatio: 1 } },
    peers: [],
  });

const anomaly = z
  .strictObject({
    window: duration.default(60_000).describe("sliding counting window"),
    threshold: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe("events per caller and kind within the window before alerting"),
    /** Distinct targets one caller may be refused for within a window before it is probing. */
    probeTargets: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe("distinct refused target tenants within the window that count as probing"),
    /** A firing alert resolves after this long without new events of its kind. */
    quietPeriod: duration
      .default(120_000)
      .describe("a firing alert resolves after this long with no event over the bar"),
    /** Multiple of the caller's own baseline (EWMA of past windows) that a burst must exceed. */
    baselineFactor: z
      .number()
      .positive()
      .default(3)
      .describe("a burst must also exceed this multiple of the caller's own baseline"),
    alertmanager: httpUrl
      .optional()
      .describe("Alertmanager base URL; alerts go to `POST <url>/api/v2/alerts`"),
    webhook: z
      .strictObject({
        url: httpUrl.describe("receiver URL"),
        secret: z
          .string()
          .min(16)
          .describe("HMAC-SHA-256 key of `x-palisade-signature` (at least 16 characters)"),
      })
      .optional()
      .describe(
        "one JSON POST per firing and resolution, signed `x-palisade-signature: sha256=<HMAC of the body>`",
      ),
    queueSize: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe("deliveries queued per network sink before the oldest is dropped"),
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
    service: dnsName.describe("this service's name: the `sa/<service>` of its SVIDs"),
    trustDomain: dnsName.describe("SPIFFE trust domain of every SVID"),
    /** This sidecar's region; wins over the PALISADE_REGION environment variable. */
    region: region
      .optional()
      .describe("this sidecar's region; wins over the `PALISADE_REGION` environment variable"),
    inbound: inbound
      .default(inbound.parse({}))
      .describe("peer sidecars → this sidecar (mTLS) → the local app"),
    outbound: outbound
      .default(outbound.parse({}))
      .describe("the local app → this sidecar (plain HTTP on loopback) → peers (mTLS)"),
    admin: z
      .strictObject({
        listen: listen
          .default("127.0.0.1:15000")
          .describe(
            "`host:port` of the admin listener (metrics, health, `/config`, purge); fixed at start",
          ),
      })
      .default({ listen: "127.0.0.1:15000" }),
    /** Metrics and probes only (no /config, /tenants or purges): safe on the pod address. */
    stats: z
      .strictObject({
        listen: listen
          .default("0.0.0.0:15020")
          .describe(
            "`host:port` of the stats listener: `GET /metrics`, `/healthz`, `/readyz` only, safe to expose to Prometheus; fixed at start",
          ),
      })
      .default({ listen: "0.0.0.0:15020" }),
    tenants: z
      .record(tenantId, tenant)
      .describe("the tenants this service serves, by tenant id (a DNS label)"),
    grants: z
      .array(grant)
      .default([])
      .describe("explicit, expiring, audited cross-tenant permissions; the default is deny"),
    cache: z
      .strictObject({
        maxBytes: size.default(256 * 1024 ** 2).describe("cap over all tenant partitions together"),
        maxObjectBytes: size.default(1024 ** 2).describe("largest response stored"),
      })
      .default({ maxBytes: 256 * 1024 ** 2, maxObjectBytes: 1024 ** 2 }),
    projection: z
      .strictObject({
        /** Largest response one projecting grant buffers. */
        maxBytes: size
          .default(1024 ** 2)
          .describe(
            "largest response a projecting grant buffers; larger: `502 projection_refused`",
          ),
        /** All responses buffered for projection at once, across the process. */
        maxBufferedBytes: size
          .default(64 * 1024 ** 2)
          .describe(
            "bytes buffered for projection at once across the process; over it: `429 rate_limited`",
          ),
        /** Key for `hash` masks (its raw bytes), relative to the config file; reloaded like certificates. */
        hashKeyFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            "file whose raw bytes key `hash` masks (HMAC-SHA-256); reloaded like certificates",
          ),
      })
      .refine((p) => p.maxBufferedBytes >= p.maxBytes, {
        path: ["maxBufferedBytes"],
        error: "must be at least projection.maxBytes, or a largest response could never fit",
      })
      .default({ maxBytes: 1024 ** 2, maxBufferedBytes: 64 * 1024 ** 2 }),
    context: z
      .strictObject({
        ttl: duration.default(300_000).describe("lifetime of `x-palisade-context` tokens"),
      })
      .default({ ttl: 300_000 }),
    telemetry,
    anomaly,
    drainTimeout: duration
      .default(20_000)
      .describe("how long in-flight requests get on SIGTERM before they are cut"),
    /** Time between failing readiness and closing listeners, so load balancers stop sending. */
    drainDelay: duration
      .default(0)
      .describe("time between failing `/readyz` and closing the listeners"),
  })
  .superRefine((config, ctx) => {
    config.grants.forEach((g, i) => {
      if (g.from === g.to)
        ctx.addIssue({
          code: "custom",
          path: ["grants", i, "to"],
          message: "a grant must cross tenants",
        });
      g.fields?.forEach((f, j) => {
        if (
          typeof f === "object" &&
          f.mask === "hash" &&
          config.projection.hashKeyFile === undefined
        )
          ctx.addIssue({
            code: "custom",
            path: ["grants", i, "fields", j, "mask"],
            message: "a hash mask needs projection.hashKeyFile (the HMAC key)",
          });
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
export type FieldConfig = NonNullable<GrantConfig["fields"]>[number];
export type EndpointConfig = NonNullable<UpstreamConfig["endpoints"]>[number];
export type AnomalyConfig = Config["anomaly"];
