import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { connect, constants, createServer as createH2Server, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SuspiciousEvent } from "../anomaly/alert.js";
import { createLogs } from "../telemetry/logs.js";
import { Metrics } from "../telemetry/metrics.js";
import { RequestContext } from "./context.js";
import type { ProxyDeps } from "./deps.js";
import { ERROR_STATUS, ProxyError, type ErrorCode } from "./errors.js";
import { grpcStatusOf, percentEncodeGrpcMessage } from "./grpc.js";
import { readHeaders } from "./request-head.js";
import { runStages, type Stage } from "./run.js";
import { NOW, testGeneration } from "./test-support.js";

/** DESIGN.md "HTTP/2 and gRPC", written out code by code so a table edit cannot slip by. */
const EXPECTED: Record<ErrorCode, number> = {
  cross_tenant_denied: 7,
  tenant_context_mismatch: 7,
  tenant_context_missing: 16,
  tenant_context_invalid: 7,
  tenant_revoked: 7,
  residency_violation: 7,
  projection_refused: 14,
  ambiguous_target: 3,
  unknown_upstream: 5,
  body_too_large: 8,
  headers_too_large: 8,
  bad_request: 3,
  request_timeout: 4,
  rate_limited: 8,
  upstream_unavailable: 14,
  upstream_timeout: 4,
};

describe("grpcStatusOf", () => {
  it("maps every error code as DESIGN.md says", () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[])
      expect([code, grpcStatusOf(code)]).toEqual([code, EXPECTED[code]]);
  });
});

describe("percentEncodeGrpcMessage", () => {
  it("leaves printable ASCII alone and encodes %, controls and UTF-8 bytes", () => {
    expect(percentEncodeGrpcMessage("cross_tenant_denied")).toBe("cross_tenant_denied");
    expect(percentEncodeGrpcMessage("100% sure\r\n")).toBe("100%25 sure%0D%0A");
    expect(percentEncodeGrpcMessage("café")).toBe("caf%C3%A9");
  });
});

const deps = {
  generation: () => testGeneration(["acme"]),
  metrics: new Metrics("orders"),
  logs: createLogs(
    { level: "warn", destination: "stdout", baseDir: ".", service: "orders" },
    { write: () => {} },
  ),
  anomaly: { record: (_event: SuspiciousEvent) => {} },
  tracing: undefined,
  now: () => NOW,
} as Partial<ProxyDeps> as ProxyDeps;

const refuse: Stage = () => {
  throw new ProxyError("cross_tenant_denied");
};
const stages = [readHeaders, refuse];

describe("a refused gRPC call", () => {
  let h2: Http2Server;
  let http1: Server;
  beforeAll(async () => {
    h2 = createH2Server(
      (req, res) => void runStages(stages, new RequestContext("inbound", req, res, deps)),
    );
    http1 = createHttpServer(
      (req, res) => void runStages(stages, new RequestContext("inbound", req, res, deps)),
    );
    await Promise.all(
      [h2, http1].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))),
    );
  });
  afterAll(() => {
    h2.close();
    http1.close();
  });

  it("is trailers-only over HTTP/2: one header block with END_STREAM, status 200", async () => {
    const port = (h2.address() as AddressInfo).port;
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/pkg.Svc/Call",
        "content-type": "application/grpc+proto",
        te: "trailers",
        "x-request-id": "grpc-1",
      });
      stream.end();
      const [headers, flags] = await new Promise<[Record<string, unknown>, number]>((resolve) =>
        stream.once("response", (h, f) => resolve([h, f])),
      );
      expect(flags & constants.NGHTTP2_FLAG_END_STREAM).toBe(constants.NGHTTP2_FLAG_END_STREAM);
      expect(headers).toMatchObject({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "7",
        "grpc-message": "cross_tenant_denied",
        "x-request-id": "grpc-1",
      });
    } finally {
      session.close();
    }
  });

  it("over HTTP/1.1 carries the same headers and no body; a plain call still gets JSON", async () => {
    const port = (http1.address() as AddressInfo).port;
    const call = (contentType: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
        (resolve, reject) => {
          const req = httpRequest(
            {
              port,
              host: "127.0.0.1",
              method: "POST",
              path: "/x",
              headers: { "content-type": contentType },
            },
            (res) => {
              let body = "";
              res.on("data", (c: Buffer) => (body += c.toString()));
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
              );
            },
          );
          req.on("error", reject);
          req.end();
        },
      );
    const grpc = await call("application/grpc");
    expect(grpc).toMatchObject({ status: 200, body: "", headers: { "grpc-status": "7" } });
    const json = await call("application/json");
    expect(json.status).toBe(403);
    expect(JSON.parse(json.body)).toMatchObject({ error: "cross_tenant_denied" });
  });
});
