/** bench/results/h2-grpc.md from a run of bench/h2-grpc.mjs. */

const LABELS = { h1: "HTTP/1.1, 1 KiB", h2: "h2, 1 KiB", grpc: "gRPC unary, 1 KiB" };
const fixed = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const whole = (x) => (Number.isFinite(x) ? String(Math.round(x)) : "–");

export function h2GrpcMarkdown({ machine, settings, rows }) {
  const lines = [
    "# HTTP/1.1, HTTP/2 and gRPC through a sidecar pair: Palisade and the bare Node pair",
    "",
    `Run of ${machine.date} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ` +
      `h1 load: ${machine.loadTool}, h2 and gRPC load: bench/lib/h2-load.mjs (node:http2, @grpc/grpc-js) in the harness process.`,
    `${settings.concurrency} requests in flight (h1: connections; h2: streams over 2 sessions; ` +
      `gRPC: calls on one channel), ${settings.warmup} s warmup + ${settings.seconds} s per cell, ` +
      `${settings.rounds} interleaved rounds, the round with the median req/s kept.`,
    "",
    `**Noisy machine.** The load generator, both proxies and the app share these ${machine.cores} cores ` +
      "with other work (load average " +
      `${machine.loadAverageAtStart.join(" ")} at the start, ${machine.loadAverageAtEnd.join(" ")} at the end). ` +
      "Read the ratios, not the absolute figures; proxy CPU per request is the steadier one.",
    "",
    "| protocol | bare req/s | Palisade req/s | ÷ bare | bare p50 / p99 ms | Palisade p50 / p99 ms | proxy CPU µs/req bare | Palisade | ÷ bare | rounds (bare; Palisade req/s) |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const { bare: b, palisade: p } = r;
    lines.push(
      `| ${LABELS[r.protocol]} | ${whole(b.rps)} | ${whole(p.rps)} | ${fixed(r.rpsRatio)}× | ` +
        `${fixed(b.p50Ms)} / ${fixed(b.p99Ms)} | ${fixed(p.p50Ms)} / ${fixed(p.p99Ms)} | ` +
        `${whole(b.cpuUsPerRequest.proxies)} | ${whole(p.cpuUsPerRequest.proxies)} | ${fixed(r.cpuRatio)}× | ` +
        `${b.roundsRps.join(", ")}; ${p.roundsRps.join(", ")} |`,
    );
  }
  const ratios = rows.map(
    (r) =>
      `${r.protocol} ${fixed(r.rpsRatio)}× the req/s at ${fixed(r.cpuRatio)}× the proxy CPU per request`,
  );
  lines.push(
    "",
    `Palisade ÷ bare: ${ratios.join("; ")}.`,
    "",
    "- bare h1: bench/servers/bare-proxy.mjs (node:http(s) + undici); bare h2 and gRPC: " +
      "bench/servers/bare-h2-proxy.mjs (node:http2 in, one h2 session out per hop, trailers relayed), no checks.",
    "- Palisade: `node dist/cli.js run` per sidecar, logs at warn, access log off; h2/gRPC pair with " +
      "`inbound.appProtocol: h2c` and the `x-target-tenant` header as target rule (gRPC paths name no tenant).",
    "- App: bench/servers/app.mjs (h1) and bench/servers/h2-app.mjs (h2c: the same 1 KiB body, gRPC echo).",
    "",
  );
  return lines.join("\n");
}
