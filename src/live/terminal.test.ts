import { describe, expect, it } from "vitest";
import { eventLine, printable, topTable } from "./terminal.js";
import type { RequestEvent } from "./event.js";

const EVENT: RequestEvent = {
  time: "2026-12-01T10:00:00.000Z",
  direction: "inbound",
  tenant: "initech",
  peer: "web",
  target: "acme",
  method: "GET",
  path: "/tenants/acme/x",
  status: 403,
  code: "cross_tenant_denied",
  decision: "denied",
  grant: undefined,
  durationMs: 1.25,
  requestId: "r1",
};

describe("terminal output", () => {
  it("shows control characters from the network as escapes, never raw", () => {
    // ESC [2J would clear the screen; C1 CSI (U+009B) is the same in one character.
    expect(printable("/a\u001b[2J\u009b31m\u0007\r\n")).toBe("/a\\x1b[2J\\x9b31m\\x07\\x0d\\x0a");
    const line = eventLine({ ...EVENT, path: "/x\u001b]0;pwned\u0007" });
    expect(line.replace(/[^\u0000-\u001f\u007f-\u009f]/gu, "")).toBe(""); // eslint-disable-line no-control-regex
  });

  it("prints one event as one line of space-separated fields", () => {
    expect(eventLine(EVENT)).toBe(
      "2026-12-01T10:00:00.000Z inbound initech/web -> acme GET /tenants/acme/x 403 denied cross_tenant_denied 1.25ms r1",
    );
  });

  it("aligns the top table and shows `-` for what is unknown", () => {
    const table = topTable([
      {
        direction: "outbound",
        tenant: "acme",
        peer: "billing",
        requests: 5,
        rps: 0.5,
        successRate: 0.8,
        p50Ms: 1.526,
        p99Ms: 9.313,
        denials: 1,
      },
      {
        direction: "inbound",
        tenant: "unknown",
        peer: "-",
        requests: 1,
        rps: 0.1,
        successRate: undefined,
        p50Ms: undefined,
        p99Ms: undefined,
        denials: 0,
      },
    ]);
    expect(table.split("\n")).toEqual([
      "DIRECTION  TENANT   PEER     RPS   SUCCESS  P50      P99      DENIALS",
      "outbound   acme     billing  0.50  80.0%    1.526ms  9.313ms  1",
      "inbound    unknown  -        0.10  -        -        -        0",
      "",
    ]);
  });
});
