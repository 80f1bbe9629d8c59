/**
 * The hand-built access line against pino's, byte for byte: the object pino was given
 * before (`pinoFields`, kept here as the reference) logged through a logger made as
 * logs.ts makes it, over records with hostile values. Only the time differs between two
 * calls, so it is blanked in both.
 */
import { trace, TraceFlags, type Span } from "@opentelemetry/api";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { newRecord, type RequestRecord } from "../path/record.js";
import { accessLine, jsonString, ms } from "./access-line.js";
import { lineHead } from "./logs.js";
import { rawHeader, traceId } from "./report-fields.js";

/** The access line's fields as the object pino serialised, in its order. */
function pinoFields(record: RequestRecord, span: Span | undefined) {
  const refusal = record.refusal;
  return {
    direction: record.direction,
    requestId: record.requestId,
    method: record.method,
    path: record.path ?? "-",
    protocol: record.protocol,
    authority: rawHeader(record.rawHeaders, ":authority") ?? rawHeader(record.rawHeaders, "host"),
    userAgent: rawHeader(record.rawHeaders, "user-agent"),
    status: record.status,
    error: refusal?.code,
    limit: refusal?.limit,
    grpcStatus: record.grpcStatus,
    tenant: record.tenant,
    caller: record.callerId,
    peer: record.peerService,
    target: record.target,
    decision: record.decision,
    cache: record.cache,
    upstream: record.upstream,
    region: record.region,
    bytesReceived: record.bytesIn,
    bytesSent: record.bytesOut,
    upstreamMs: record.upstreamSeconds === undefined ? undefined : ms(record.upstreamSeconds),
    traceId: traceId(record, span),
    durationMs: ms(record.seconds),
  };
}

function logger(service: string) {
  const lines: string[] = [];
  const root = pino(
    {
      level: "info",
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (line: string) => void lines.push(line) },
  );
  return { access: root.child({ log: "access" }), lines };
}

const blankTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"-"');

const HOSTILE = [
  "",
  'quote " inside',
  "back\\slash",
  "nul \u0000 bell \u0007 del \u007f esc \u001b",
  "line\nbreak\r\ttab",
  "separators \u2028 \u2029",
  "latin1 \u00e9\u00ff and emoji \u{1f600}",
  "long ".repeat(60),
  `${"x".repeat(200)}"${"y".repeat(200)}\n`,
  "</script><!--",
];
const LONE_SURROGATES = ["lone \ud800 high", "\udfff", `${"z".repeat(150)}\udbff`];

function hostileRecord(value: string, i: number): RequestRecord {
  const headers = [
    i % 3 ? "host" : ":authority",
    value,
    "User-Agent",
    value,
    "traceparent",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  ];
  const protocol = i % 2 ? "HTTP/1.1" : value;
  const record = newRecord(i % 2 ? "inbound" : "outbound", value || undefined, headers, protocol);
  Object.assign(record, {
    requestId: value,
    path: i % 4 ? value : undefined,
    tenant: value,
    callerId: `spiffe://mesh.local/tenant/${value}`,
    peerService: value,
    target: value,
    upstream: value,
    region: value,
    status: 200 + i,
    bytesIn: i * 1000,
    bytesOut: 2 ** 40 + i,
    upstreamSeconds: i % 2 ? 0.000_123_4 * i : undefined,
    seconds: 0.001_234_567 * (i + 1),
  });
  if (i % 3 === 0)
    record.refusal = { code: "rate_limited", message: value, suspicious: false, limit: value };
  return record;
}

function bothLines(record: RequestRecord, span: Span | undefined, service = "orders") {
  const { access, lines } = logger(service);
  const refused = record.refusal !== undefined;
  if (refused) access.warn(pinoFields(record, span), "request refused");
  else access.info(pinoFields(record, span));
  const head = lineHead(access, refused ? "warn" : "info");
  const ours = accessLine(record, span, head, refused ? "request refused" : undefined);
  return { ours, pino: lines[0] as string };
}

describe("hand-serialised access line", () => {
  it("is pino's line byte for byte over hostile values", () => {
    HOSTILE.forEach((value, i) => {
      const { ours, pino: theirs } = bothLines(hostileRecord(value, i), undefined);
      expect(Buffer.from(blankTime(ours))).toEqual(Buffer.from(blankTime(theirs)));
    });
  });

  it("omits undefined fields, writes a sampled span's trace id and non-finite numbers as null", () => {
    const record = newRecord("inbound", "GET", [], "HTTP/2.0");
    record.seconds = Number.NaN;
    record.upstreamSeconds = Number.POSITIVE_INFINITY;
    record.grpcStatus = 7;
    const span = trace.wrapSpanContext({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      traceFlags: TraceFlags.SAMPLED,
    });
    const { ours, pino: theirs } = bothLines(record, span, 'svc "quoted"');
    expect(blankTime(ours)).toBe(blankTime(theirs));
    expect(JSON.parse(ours)).toMatchObject({ durationMs: null, upstreamMs: null, grpcStatus: 7 });
    expect(ours).not.toContain('"tenant"');
  });

  it("keeps a lone surrogate, escaped, where pino on Node 20 writes U+FFFD", () => {
    LONE_SURROGATES.forEach((value, i) => {
      const { ours, pino: theirs } = bothLines(hostileRecord(value, i + 1), undefined);
      expect(ours).toContain(JSON.stringify(value));
      expect(JSON.parse(ours)).toMatchObject({ tenant: value, requestId: value });
      // Every other field is the same value pino wrote.
      const reference = JSON.parse(theirs) as Record<string, unknown>;
      expect(Object.keys(JSON.parse(ours) as object)).toEqual(Object.keys(reference));
    });
  });

  it("quotes strings exactly as JSON.stringify does, over random code units", () => {
    // Weighted towards the units that need care: controls, quote, backslash, separators,
    // both halves of surrogate pairs.
    const tricky = [
      0x00, 0x08, 0x0a, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x2028, 0xd800, 0xdbff, 0xdc00, 0xdfff,
    ];
    let seed = 17;
    const next = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0);
    for (let n = 0; n < 5_000; n++) {
      const units = Array.from({ length: next() % 40 }, () =>
        next() % 3 === 0 ? (tricky[next() % tricky.length] as number) : next() % 0x10000,
      );
      const text = String.fromCharCode(...units);
      expect(jsonString(text)).toBe(JSON.stringify(text));
    }
  });
});
