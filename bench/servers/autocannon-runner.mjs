/**
 * autocannon in its own process (the fallback when wrk is absent), printing one
 * `AC_JSON {...}` line shaped like the wrk result.
 *
 * usage: node bench/servers/autocannon-runner.mjs '{"url","headers","connections","seconds","rotate"}'
 */
import autocannon from "autocannon";

const spec = JSON.parse(process.argv[2]);
const requests = spec.rotate
  ? spec.rotate.tenants.map((t) => ({
      method: "GET",
      path: spec.rotate.path.replace("{tenant}", t),
      headers: { ...spec.headers, [spec.rotate.header]: t },
    }))
  : undefined;

const result = await autocannon({
  url: spec.url,
  headers: spec.headers,
  connections: spec.connections,
  duration: spec.seconds,
  timeout: 5,
  ...(requests ? { requests } : {}),
});
const seconds = result.duration;
console.log(
  `AC_JSON ${JSON.stringify({
    rps: result.requests.total / seconds,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    meanMs: result.latency.mean,
    maxMs: result.latency.max,
    requests: result.requests.total,
    bytes: result.throughput.total,
    errors: {
      connect: 0,
      read: result.errors,
      write: 0,
      status: result.non2xx,
      timeout: result.timeouts,
    },
    seconds,
  })}`,
);
