/**
 * Projection memory through a real sidecar: concurrent granted requests for large JSON
 * documents share one process-wide budget (`projection.maxBufferedBytes`). Requests that
 * would pass it are refused `rate_limited`, none gets an unprojected body, the bytes held
 * never pass it, and every way a request can end gives its bytes back.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { request, type Agent } from "undici";
import { type AppHandler, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { baseConfig, send, type Answer, type RunningSidecar } from "./support/mesh.js";
import { withMesh } from "./support/with-mesh.js";

const BLOB = "x".repeat(300 * 1024);
const DOCUMENT = Buffer.from(JSON.stringify({ id: "r1", total: 7, blob: BLOB }));
const HALF = DOCUMENT.length >> 1;
const BUDGET = 1024 ** 2;
/** Three whole documents fit in the budget, four do not. */
const FITTING = Math.floor(BUDGET / DOCUMENT.length);

/** The app sends half of each document, then waits for the test to open the gate. */
let gate: { promise: Promise<void>; open: () => void };
function closeGate(): void {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  gate = { promise, open };
}

const handler: AppHandler = (req, res) => {
  const url = req.url ?? "";
  const json = { "content-type": "application/json" };
  if (url.includes("/bad")) {
    res.writeHead(200, { ...json, "content-length": HALF });
    return void res.end(DOCUMENT.subarray(0, HALF));
  }
  // Chunked: the sidecar only learns the size as the bytes arrive.
  const sized = !url.includes("/chunked");
  res.writeHead(200, sized ? { ...json, "content-length": DOCUMENT.length } : json);
  res.write(DOCUMENT.subarray(0, HALF));
  if (url.includes("/reset")) return void res.socket?.destroy();
  void gate.promise.then(() => res.end(DOCUMENT.subarray(HALF)));
};

let app: TestApp;
let orders: RunningSidecar;
let globex: Agent;

const mesh = withMesh(["acme", "globex"], ["orders", "web"]);

beforeAll(async () => {
  app = await mesh.app(handler);
  const config = baseConfig(mesh.pki, "orders", ["acme", "globex"], app.url);
  config["projection"] = { maxBytes: "512Ki", maxBufferedBytes: BUDGET };
  config["grants"] = [
    {
      id: "globex-reports",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      fields: ["id", "total"],
      expires: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    },
  ];
  orders = await mesh.sidecar(config);
  globex = await mesh.client("globex", "web", "orders");
  mesh.defer(() => gate?.open());
});

beforeEach(() => closeGate());

async function metric(name: string): Promise<number> {
  const text = (await send(undefined, `${orders.admin}/metrics`)).text;
  const value = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1];
  return Number(value ?? Number.NaN);
}

const held = (): Promise<number> => metric("palisade_projection_buffered_bytes");

/** Samples the bytes held until stopped, and reports the most it saw. */
function watchHeld(): { stop: () => Promise<number> } {
  let most = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      most = Math.max(most, await held());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return most;
    },
  };
}

/** Every answer is the exact projection or a clean `rate_limited`; never the blob. */
function expectProjectedOrRefused(answers: Answer[]): { ok: number; refused: number } {
  let ok = 0;
  let refused = 0;
  for (const answer of answers) {
    expect(answer.text).not.toContain("xxxx");
    if (answer.status === 200) {
      expect(answer.json()).toEqual({ id: "r1", total: 7 });
      ok++;
    } else {
      expect(answer.status).toBe(429);
      expect(answer.json()).toMatchObject({ error: "rate_limited" });
      refused++;
    }
  }
  return { ok, refused };
}

function fetchReports(kind: string, count: number): Promise<Answer>[] {
  return Array.from({ length: count }, (_, i) =>
    send(globex, `${orders.inbound}/tenants/acme/reports/${kind}-${i}`),
  );
}

describe("one budget bounds every projection in flight", () => {
  it("concurrent-large-documents-exceed-budget: refused up front by content-length", async () => {
    const exceededBefore = await metric("palisade_projection_budget_exceeded_total");
    const watch = watchHeld();
    const settled: Answer[] = [];
    const pending = fetchReports("sized", 8).map((p) => p.then((a) => void settled.push(a)));
    // The documents that fit are held; the others are refused before their first byte.
    await eventually(() => settled.length === 8 - FITTING, "the refusals over the budget");
    expect(await held()).toBe(FITTING * DOCUMENT.length);
    gate.open();
    await Promise.all(pending);
    expect(await watch.stop()).toBeLessThanOrEqual(BUDGET);
    expect(expectProjectedOrRefused(settled)).toEqual({ ok: FITTING, refused: 8 - FITTING });
    expect(await metric("palisade_projection_budget_exceeded_total")).toBe(
      exceededBefore + 8 - FITTING,
    );
    await eventually(async () => (await held()) === 0, "the budget to drain");
  });

  it("chunked-documents-reserve-as-bytes-arrive", async () => {
    const watch = watchHeld();
    const settled: Answer[] = [];
    const pending = fetchReports("chunked", 8).map((p) => p.then((a) => void settled.push(a)));
    // Eight half documents do not fit: while the gate is closed, every request ends up
    // either refused or holding its whole first half, and at least two are refused.
    await eventually(
      async () => settled.length >= 2 && (await held()) === (8 - settled.length) * HALF,
      "each request refused or holding its half",
    );
    gate.open();
    await Promise.all(pending);
    const result = expectProjectedOrRefused(settled);
    expect(await watch.stop()).toBeLessThanOrEqual(BUDGET);
    expect(result.ok).toBeGreaterThanOrEqual(1);
    expect(result.refused).toBeGreaterThanOrEqual(8 - 2 * FITTING);
    await eventually(async () => (await held()) === 0, "the budget to drain");
  });
});

describe("every way a projection ends gives its bytes back", () => {
  it("client-abort-releases-budget while the app is still sending", async () => {
    const aborts = Array.from({ length: FITTING }, () => new AbortController());
    const requests = aborts.map((abort, i) =>
      request(`${orders.inbound}/tenants/acme/reports/abort-${i}`, {
        dispatcher: globex,
        signal: abort.signal,
      }).catch(() => undefined),
    );
    await eventually(
      async () => (await held()) === FITTING * DOCUMENT.length,
      "the documents to be held",
    );
    for (const abort of aborts) abort.abort();
    await Promise.all(requests);
    // The gate stays closed: only the aborts can have released the bytes.
    await eventually(async () => (await held()) === 0, "the aborted requests' bytes back");
    const after = await send(globex, `${orders.inbound}/tenants/acme/reports/bad`);
    expect(after.status).toBe(502);
  });

  it("upstream-reset-releases-budget", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/reset`);
    expect(answer.status).toBe(502);
    expect(answer.text).not.toContain("xxxx");
    await eventually(async () => (await held()) === 0, "the reset request's bytes back");
  });

  it("unparseable-document-releases-budget", async () => {
    const answer = await send(globex, `${orders.inbound}/tenants/acme/reports/bad`);
    expect(answer.status).toBe(502);
    expect(answer.json()).toMatchObject({ error: "projection_refused" });
    expect(await held()).toBe(0);
  });

  it("many-mixed-requests-leave-the-budget-at-zero", async () => {
    const aborts = Array.from({ length: 6 }, () => new AbortController());
    const aborted = aborts.map((abort, i) =>
      request(`${orders.inbound}/tenants/acme/reports/chunked-abort-${i}`, {
        dispatcher: globex,
        signal: abort.signal,
      }).catch(() => undefined),
    );
    const others = [
      ...fetchReports("sized", 6),
      ...fetchReports("chunked", 6),
      ...fetchReports("reset", 4),
      ...fetchReports("bad", 4),
    ];
    await eventually(async () => (await held()) > 0, "some bytes held");
    for (const abort of aborts) abort.abort();
    gate.open();
    await Promise.all([...aborted, ...others]);
    await eventually(async () => (await held()) === 0, "the budget to drain");
  });
});
