/**
 * Load for the HTTP/2 and gRPC rows, in this process: `concurrency` streams kept in
 * flight, spread over `sessions` HTTP/2 sessions (h2) or one gRPC channel (@grpc/grpc-js,
 * unary calls), for `seconds`. Each finished request starts the next, so the count of
 * requests in flight stays fixed, like wrk's connections. Returns the shape runLoad
 * returns: `{ rps, p50Ms, p99Ms, requests, errors, seconds }`.
 */
import { connect } from "node:http2";
import { performance } from "node:perf_hooks";
import grpc from "@grpc/grpc-js";

/** The gRPC method bench/servers/h2-app.mjs echoes, with the identity (de)serializers. */
export const ECHO_METHOD = "/bench.Echo/Unary";
const identity = (b) => b;

/** Keeps `concurrency` calls of `once(done)` running until `seconds` pass; times each. */
async function closedLoop({ concurrency, seconds, once }) {
  const latencies = [];
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await once();
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rps: latencies.length / elapsed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    requests: latencies.length,
    errors,
    seconds: elapsed,
  };
}

/** One h2c GET: its response head, for the harness's sanity check. */
export async function h2Head({ url, path, headers }) {
  const session = connect(url);
  try {
    return await new Promise((resolve, reject) => {
      session.on("error", reject);
      const stream = session.request({ ":path": path, ...headers });
      stream.on("response", resolve);
      stream.on("error", reject);
      stream.resume();
    });
  } finally {
    session.close();
  }
}

/** h2c GETs of `path` against `url`, with `headers`; a non-200 counts as an error. */
export async function runH2Load({ url, path, headers, sessions = 2, concurrency, seconds }) {
  const open = Array.from({ length: sessions }, () => connect(url));
  for (const s of open) s.on("error", () => {});
  let next = 0;
  const once = () =>
    new Promise((resolve, reject) => {
      const session = open[next++ % open.length];
      const stream = session.request({ ":path": path, ...headers });
      stream.on("response", (h) => {
        if (h[":status"] !== 200) stream.destroy(new Error(`status ${h[":status"]}`));
      });
      stream.on("error", reject);
      stream.on("end", resolve);
      stream.resume();
    });
  try {
    return await closedLoop({ concurrency, seconds, once });
  } finally {
    for (const s of open) s.destroy();
  }
}

/**
 * gRPC unary echo calls of a `bytes`-byte message over one insecure (h2c) channel;
 * `authority` is its `:authority` (Palisade's outbound picks the upstream by it).
 */
export async function runGrpcLoad({
  url,
  authority,
  metadata,
  bytes = 1024,
  concurrency,
  seconds,
}) {
  const client = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure(), {
    "grpc.default_authority": authority,
  });
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
  const message = Buffer.alloc(bytes, "g");
  const once = () =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(ECHO_METHOD, identity, identity, message, meta, (err, reply) =>
        err || reply.length !== bytes ? reject(err ?? new Error("short reply")) : resolve(),
      ),
    );
  try {
    return await closedLoop({ concurrency, seconds, once });
  } finally {
    client.close();
  }
}
