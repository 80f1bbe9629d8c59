/**
 * A real OTLP/HTTP trace receiver on a loopback port: accepts `POST /v1/traces` the way an
 * OpenTelemetry Collector does, decodes the export requests and keeps the spans, so tests
 * can assert on what a sidecar actually put on the wire.
 *
 * `@opentelemetry/exporter-trace-otlp-http` sends OTLP/JSON (`application/json`, ids as
 * hex strings, enums as numbers); protobuf is `exporter-trace-otlp-proto`'s business and
 * is refused here with 415, so a change of exporter fails loudly instead of silently.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, inflateSync } from "node:zlib";

/** OTLP's SpanKind (not the API's: OTLP counts UNSPECIFIED as 0). */
export const OTLP_SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
/** OTLP's StatusCode. */
export const OTLP_STATUS = { UNSET: 0, OK: 1, ERROR: 2 };

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, AttributeValue>;
  status: { code: number; message: string };
  /** The names of the span's events, in order. */
  events: string[];
  /** The exporting process's resource attributes (`service.name` and friends). */
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface OtlpReceiver {
  /** The traces endpoint, `http://127.0.0.1:<port>/v1/traces`, for `telemetry.otlp.endpoint`. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Requests that were not a decodable OTLP/JSON trace export; a test should expect none. */
  errors: string[];
  /** Polls until `predicate` holds for the spans received so far; throws after `timeoutMs`. */
  waitFor(
    predicate: (spans: ReceivedSpan[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const POLL_MS = 50;

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const errors: string[] = [];
  const server = createServer((req, res) => {
    receive(req)
      .then((body) => {
        if (req.method !== "POST" || req.url !== "/v1/traces") {
          errors.push(`${req.method} ${req.url}`);
          return reply(res, 404, { error: "not found" });
        }
        const type = req.headers["content-type"] ?? "";
        if (!type.startsWith("application/json")) {
          errors.push(`unsupported content-type ${type}`);
          return reply(res, 415, { error: `only OTLP/JSON is accepted, got ${type}` });
        }
        spans.push(
          ...decodeExport(JSON.parse(decode(body, req).toString("utf8")) as ExportRequest),
        );
        // An empty ExportTraceServiceResponse: everything accepted.
        reply(res, 200, {});
      })
      .catch((error: unknown) => {
        errors.push(String(error));
        reply(res, 400, { error: String(error) });
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    errors,
    async waitFor(predicate, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > deadline) {
          const seen = spans.map(
            (s) => `${String(s.resource["service.name"])} ${s.name} ${s.traceId}`,
          );
          throw new Error(
            `OTLP receiver: ${what} not seen after ${timeoutMs} ms; ${spans.length} spans:\n` +
              `${seen.join("\n")}\nerrors: ${errors.join("; ") || "none"}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function receive(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error("export request too large"));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function decode(body: Buffer, req: IncomingMessage): Buffer {
  const encoding = req.headers["content-encoding"] ?? "identity";
  if (encoding === "gzip") return gunzipSync(body);
  if (encoding === "deflate") return inflateSync(body);
  if (encoding === "identity") return body;
  throw new Error(`unsupported content-encoding ${encoding}`);
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

interface KeyValue {
  key: string;
  value?: AnyValue;
}

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
}

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      scope?: { name?: string };
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: KeyValue[];
        status?: { code?: number; message?: string };
        events?: { name: string }[];
      }[];
    }[];
  }[];
}

/** Flattens an ExportTraceServiceRequest (OTLP/JSON) into one record per span. */
export function decodeExport(request: ExportRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: span.kind ?? 0,
          attributes: attributes(span.attributes),
          status: { code: span.status?.code ?? 0, message: span.status?.message ?? "" },
          events: (span.events ?? []).map((e) => e.name),
          resource,
          scope: ss.scope?.name ?? "",
        });
      }
    }
  }
  return out;
}

function attributes(list: KeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

function value(v: AnyValue | undefined): AttributeValue {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  // int64 may arrive as a decimal string (JSON cannot carry every int64 as a number).
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(value);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.kvlistValue !== undefined) return JSON.stringify(attributes(v.kvlistValue.values));
  return null;
}
