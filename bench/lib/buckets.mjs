/**
 * Where a request's microseconds go: every sample of a V8 CPU profile is charged to one
 * bucket, by the script of the frame it landed in (self time). The rules are a table, read
 * top to bottom, first match wins. Frames without a script of their own (native functions
 * such as `writev` or `runMicrotasks`, V8 builtins such as `JSON.stringify`) and Node's
 * generic helpers (crypto, buffers, fs, AbortSignal, primordials) are charged to their caller's bucket: a JSON.stringify
 * under pino is the access log's cost, an HMAC under context-token.js is token signing.
 */

/** Display order of the buckets; `idle` is counted apart and is not busy time. */
export const BUCKETS = [
  "TLS",
  "HTTP parse/serialise",
  "undici",
  "header processing",
  "identity re-check",
  "token signing",
  "route/grant decision",
  "cache step",
  "metrics",
  "access log",
  "tracing",
  "anomaly",
  "promises and timers",
  "GC",
  "streams/net plumbing",
  "socket writes (native: send, TLS encryption)",
  "V8/native outside JS ((program))",
  "other Palisade",
  "other",
];

const INHERIT = "inherit";
/** A test on Palisade's own build output, never a dependency's `dist/` folder. */
const ours = (re) => ({ test: (url) => !url.includes("/node_modules/") && re.test(url) });
const dist = (files) => ours(new RegExp(`/dist/(?:${files})(?:\\.js)?(?:$|[/?#])`));

/** `{ bucket, name?, url? }`: `name` tests the function name, `url` the script URL. */
export const RULES = [
  { bucket: "idle", name: /^\(idle\)$/ },
  { bucket: "GC", name: /^\(garbage collector\)$/ },
  { bucket: "V8/native outside JS ((program))", name: /^\(program\)$/ },
  { bucket: "other", name: /^\(root\)$/ },
  // A native write on a socket: the send syscall and, on a TLS socket, the encryption.
  {
    bucket: "socket writes (native: send, TLS encryption)",
    url: /^$/,
    name: /^(writev|writeBuffer|write(Utf8|Latin1|Ascii|Ucs2)String)$/,
  },
  { bucket: INHERIT, url: /^$/ },
  // Node's generic helpers do their caller's work: SonicBoom's fs.write is the access log's,
  // pipeline's AbortSignal is stream plumbing's, a primordial SafeMap is whoever made it.
  {
    bucket: INHERIT,
    url: /^node:(internal\/crypto\/|crypto$|buffer$|internal\/buffer$|fs$|internal\/fs\/|internal\/abort_controller$|internal\/per_context\/|internal\/validators$|internal\/util$)/,
  },
  { bucket: "TLS", url: /^node:(_tls_|tls$|internal\/tls\/)/ },
  { bucket: "HTTP parse/serialise", url: /^node:(_http_|internal\/http$|http$|https$)/ },
  { bucket: "HTTP parse/serialise", url: /node_modules\/undici\/lib\/llhttp\/|^wasm:/ },
  { bucket: "undici", url: /node_modules\/undici\// },
  {
    bucket: "access log",
    url: /^(?!.*node_modules).*\/dist\/telemetry\/(access-log|logs)[^/]*\.js$|node_modules\/(pino|pino-std-serializers|sonic-boom|quick-format-unescaped|fast-redact|atomic-sleep|on-exit-leak-free|thread-stream|safe-stable-stringify)\//,
  },
  {
    bucket: "tracing",
    url: /^(?!.*node_modules).*\/dist\/telemetry\/tracing[^/]*\.js$|node_modules\/@opentelemetry\//,
  },
  {
    bucket: "metrics",
    url: /^(?!.*node_modules).*\/dist\/telemetry\/[^/]*metrics[^/]*\.js$|node_modules\/(prom-client|tdigest|bintrees)\//,
  },
  { bucket: "anomaly", url: dist("anomaly") },
  { bucket: "cache step", url: dist("cache|path/cache") },
  { bucket: "token signing", url: dist("tenancy/context-token") },
  { bucket: "identity re-check", url: dist("tls/peer-identity|inbound/identify") },
  {
    bucket: "route/grant decision",
    url: dist("tenancy/(decide|grants|target|path-glob|request-path)|path/(route|authorize)"),
  },
  { bucket: "header processing", url: dist("path/(headers|request-head)|inbound/strip-reserved") },
  {
    bucket: "promises and timers",
    url: /^node:(internal\/process\/task_queues|internal\/process\/promises|internal\/timers|timers|internal\/async_hooks|internal\/async_local_storage)/,
  },
  {
    bucket: "streams/net plumbing",
    url: /^node:(internal\/streams\/|stream$|net$|events$|internal\/stream_base_commons|internal\/net|internal\/event_target|internal\/dns)/,
  },
  { bucket: "other Palisade", url: ours(/\/dist\//) },
  { bucket: "other", url: /./ },
];

/** The rule's bucket for one call frame (possibly "inherit"). */
export function ruleFor(frame) {
  const url = frame.url ?? "";
  const name = frame.functionName ?? "";
  for (const rule of RULES) {
    if (rule.name && !rule.name.test(name)) continue;
    if (rule.url && !rule.url.test(url)) continue;
    return rule.bucket;
  }
  return "other";
}

/** node id → bucket for every node of a profile, inheriting up the caller chain. */
export function bucketsOfNodes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const memo = new Map();
  const resolve = (id) => {
    if (memo.has(id)) return memo.get(id);
    const chain = [];
    let bucket = "other";
    for (let at = id; at !== undefined; at = parent.get(at)) {
      if (memo.has(at)) {
        bucket = memo.get(at);
        break;
      }
      chain.push(at);
      const own = ruleFor(byId.get(at).callFrame);
      if (own !== INHERIT) {
        bucket = own;
        break;
      }
    }
    for (const at of chain) memo.set(at, bucket);
    return bucket;
  };
  for (const n of profile.nodes) resolve(n.id);
  return memo;
}

/**
 * Busy µs by bucket over the samples inside `window` (`{ from, to }` in the profile's
 * microsecond clock; whole profile when absent): `{ busyUs, idleUs, buckets }`.
 */
export function attribute(profile, window) {
  const bucketOf = bucketsOfNodes(profile);
  const buckets = Object.fromEntries(BUCKETS.map((b) => [b, 0]));
  let busyUs = 0;
  let idleUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.from || t > window.to)) continue;
    const bucket = bucketOf.get(profile.samples[i]) ?? "other";
    if (bucket === "idle") {
      idleUs += delta;
      continue;
    }
    busyUs += delta;
    buckets[bucket] = (buckets[bucket] ?? 0) + delta;
  }
  return { busyUs, idleUs, buckets };
}

/** The sum of several attributions (the processes of one row: hops, cluster workers). */
export function addAttributions(list) {
  const total = { busyUs: 0, idleUs: 0, buckets: Object.fromEntries(BUCKETS.map((b) => [b, 0])) };
  for (const a of list) {
    total.busyUs += a.busyUs;
    total.idleUs += a.idleUs;
    for (const [b, us] of Object.entries(a.buckets))
      total.buckets[b] = (total.buckets[b] ?? 0) + us;
  }
  return total;
}
