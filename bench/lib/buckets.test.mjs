/**
 * The bucket rules on a hand-made profile whose answer is known. Not part of `npm test`:
 * `node --test bench/`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { addAttributions, attribute, BUCKETS, RULES, ruleFor } from "./buckets.mjs";

const ROOT = "file:///repo";
const frame = (functionName, url = "") => ({ functionName, url });

/** id → [frame, children]; samples are [id, µs] pairs, one after the other from t = 1000. */
function profile(tree, samples) {
  return {
    nodes: Object.entries(tree).map(([id, [callFrame, children = []]]) => ({
      id: Number(id),
      callFrame,
      children,
    })),
    startTime: 1000,
    endTime: 1000 + samples.reduce((t, [, us]) => t + us, 0),
    samples: samples.map(([id]) => id),
    timeDeltas: samples.map(([, us]) => us),
  };
}

const TREE = {
  1: [frame("(root)"), [2, 10, 11, 12, 13, 14]],
  2: [frame("processTicksAndRejections", "node:internal/process/task_queues"), [3, 15]],
  3: [frame("handle", `${ROOT}/dist/inbound/handler.js`), [4, 7, 9, 16]],
  4: [frame("signContext", `${ROOT}/dist/tenancy/context-token.js`), [5]],
  5: [frame("Hmac", "node:internal/crypto/hash"), [6]],
  6: [frame("digest"), []],
  7: [frame("write", `${ROOT}/node_modules/pino/lib/proto.js`), [8, 17]],
  8: [frame("stringify"), []],
  9: [frame("writev"), []],
  10: [frame("(garbage collector)"), []],
  11: [frame("(idle)"), []],
  12: [frame("(program)"), []],
  13: [frame("parse", `${ROOT}/node_modules/zod/dist/index.js`), []],
  14: [frame("onStreamRead", "node:_tls_wrap"), []],
  15: [frame("runMicrotasks"), []],
  16: [frame("key", `${ROOT}/dist/cache/cache-key.js`), []],
  17: [frame("write", "node:fs"), [18]],
  18: [frame("writeString"), []],
};

test("each sample is charged to its frame's bucket, native frames to their caller's", () => {
  const p = profile(TREE, [
    [6, 10], // native digest under Hmac under context-token.js: token signing
    [5, 5], // Hmac itself: token signing
    [8, 20], // JSON.stringify under pino: access log
    [9, 7], // native writev: socket writes
    [10, 3], // GC
    [11, 100], // idle: not busy
    [12, 4], // (program)
    [13, 2], // a dependency's dist/ folder is not Palisade's
    [14, 6], // TLS
    [15, 8], // runMicrotasks under task_queues: promises and timers
    [3, 9], // the handler itself: other Palisade
    [16, 1], // cache step
    [18, 5], // native writeString under fs.write under pino: access log
  ]);
  const a = attribute(p);
  assert.equal(a.idleUs, 100);
  assert.equal(a.busyUs, 80);
  const nonZero = Object.fromEntries(Object.entries(a.buckets).filter(([, us]) => us > 0));
  assert.deepEqual(nonZero, {
    "token signing": 15,
    "access log": 25,
    "socket writes (native: send, TLS encryption)": 7,
    GC: 3,
    "V8/native outside JS ((program))": 4,
    other: 2,
    TLS: 6,
    "promises and timers": 8,
    "other Palisade": 9,
    "cache step": 1,
  });
});

test("a window keeps only the samples inside it", () => {
  const p = profile(TREE, [
    [8, 10], // t = 1010: before the window
    [6, 10], // t = 1020
    [6, 10], // t = 1030
    [8, 10], // t = 1040: after
  ]);
  const a = attribute(p, { from: 1015, to: 1035 });
  assert.equal(a.busyUs, 20);
  assert.equal(a.buckets["token signing"], 20);
  assert.equal(a.buckets["access log"], 0);
});

test("attributions of several processes add up", () => {
  const one = attribute(profile(TREE, [[14, 5]]));
  const two = attribute(
    profile(TREE, [
      [14, 7],
      [11, 3],
    ]),
  );
  const sum = addAttributions([one, two]);
  assert.equal(sum.busyUs, 12);
  assert.equal(sum.idleUs, 3);
  assert.equal(sum.buckets.TLS, 12);
});

test("every rule names a listed bucket, idle or inherit", () => {
  for (const rule of RULES)
    assert.ok(
      BUCKETS.includes(rule.bucket) || rule.bucket === "idle" || rule.bucket === "inherit",
      rule.bucket,
    );
});

test("the issue's file rules", () => {
  const cases = {
    "node:_http_outgoing": "HTTP parse/serialise",
    "node:_http_server": "HTTP parse/serialise",
    [`${ROOT}/node_modules/undici/lib/dispatcher/client-h1.js`]: "undici",
    [`${ROOT}/node_modules/undici/lib/llhttp/llhttp-wasm.js`]: "HTTP parse/serialise",
    [`${ROOT}/node_modules/sonic-boom/index.js`]: "access log",
    [`${ROOT}/dist/telemetry/access-log.js`]: "access log",
    [`${ROOT}/dist/telemetry/tracing.js`]: "tracing",
    [`${ROOT}/node_modules/@opentelemetry/api/build/src/trace/context.js`]: "tracing",
    [`${ROOT}/node_modules/prom-client/lib/histogram.js`]: "metrics",
    [`${ROOT}/dist/telemetry/request-metrics.js`]: "metrics",
    [`${ROOT}/dist/anomaly/detector.js`]: "anomaly",
    [`${ROOT}/dist/path/cache.js`]: "cache step",
    [`${ROOT}/dist/tls/peer-identity.js`]: "identity re-check",
    [`${ROOT}/dist/inbound/identify.js`]: "identity re-check",
    [`${ROOT}/dist/tenancy/decide.js`]: "route/grant decision",
    [`${ROOT}/dist/path/authorize.js`]: "route/grant decision",
    [`${ROOT}/dist/path/headers.js`]: "header processing",
    [`${ROOT}/dist/inbound/strip-reserved.js`]: "header processing",
    "node:internal/timers": "promises and timers",
    "node:internal/streams/writable": "streams/net plumbing",
    "node:net": "streams/net plumbing",
    "node:internal/tls/secure-context": "TLS",
    [`${ROOT}/dist/outbound/handler.js`]: "other Palisade",
    "node:internal/url": "other",
  };
  for (const [url, bucket] of Object.entries(cases))
    assert.equal(ruleFor(frame("f", url)), bucket, url);
});
