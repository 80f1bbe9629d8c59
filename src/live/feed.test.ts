import { describe, expect, it } from "vitest";
import type { RequestRecord } from "../path/record.js";
import type { RequestEvent } from "./event.js";
import { RequestFeed, type EventFilter, type FeedSubscriber } from "./feed.js";
import { LiveStats } from "./stats.js";
import { label, record } from "./test-support.js";

const T0 = 1_800_000_000_000;

function feed(options: { maxSubscribers?: number; onDropped?: () => void } = {}): RequestFeed {
  return new RequestFeed({
    stats: new LiveStats({ label, windowSeconds: 10, maxPeersPerTenant: 4, maxKeys: 64 }),
    now: () => T0,
    maxSubscribers: options.maxSubscribers ?? 4,
    maxBacklogBytes: 1_000,
    recentDenials: 8,
    ...(options.onDropped ? { onDropped: options.onDropped } : {}),
  });
}

interface TestSubscriber extends FeedSubscriber {
  events: RequestEvent[];
  closed: string | undefined;
  pending: number;
}

function subscriber(filter: EventFilter = {}): TestSubscriber {
  const s: TestSubscriber = {
    filter,
    events: [],
    closed: undefined,
    pending: 0,
    backlog: () => s.pending,
    write: (json) => void s.events.push(JSON.parse(json) as RequestEvent),
    close: (reason) => void (s.closed = reason),
  };
  return s;
}

const denial = (tenant = "globex", target = "acme") =>
  record({ tenant, target, service: "web", code: "cross_tenant_denied" });

describe("broadcast", () => {
  it("sends each subscriber the events its filter picks, as the events the record makes", () => {
    const f = feed();
    const all = subscriber();
    const denied = subscriber({ decision: "denied" });
    const acme = subscriber({ tenant: "acme" });
    for (const s of [all, denied, acme]) f.subscribe(s);
    f.publish(record({ tenant: "globex", service: "web" }));
    f.publish(denial());
    expect(all.events.map((e) => e.decision)).toEqual(["allowed", "denied"]);
    expect(denied.events).toHaveLength(1);
    // A tenant's stream shows the calls made to it too.
    expect(acme.events).toHaveLength(1);
    expect(denied.events[0]).toEqual({
      time: new Date(T0).toISOString(),
      direction: "inbound",
      tenant: "globex",
      peer: "web",
      target: "acme",
      method: "GET",
      path: "/tenants/acme/x",
      status: 403,
      code: "cross_tenant_denied",
      decision: "denied",
      durationMs: 1,
      requestId: "req-1",
    });
  });

  it("drops a subscriber that falls behind, and keeps serving the others", () => {
    const dropped: string[] = [];
    const f = feed({ onDropped: () => void dropped.push("slow") });
    const slow = subscriber();
    const fast = subscriber();
    f.subscribe(slow);
    f.subscribe(fast);
    f.publish(denial());
    slow.pending = 1_001; // its socket stopped draining
    for (let i = 0; i < 100; i++) f.publish(denial());
    expect(slow.closed).toBe("slow");
    expect(slow.events).toHaveLength(1);
    expect(fast.events).toHaveLength(101);
    expect(dropped).toEqual(["slow"]);
    expect(f.subscribers).toBe(1);
    expect(f.dropped).toBe(1);
  });

  it("refuses subscribers past the cap, and takes one again once another leaves", () => {
    const f = feed({ maxSubscribers: 2 });
    const first = f.subscribe(subscriber());
    expect(f.subscribe(subscriber())).toBeTypeOf("function");
    expect(f.subscribe(subscriber())).toBeUndefined();
    first?.();
    expect(f.subscribe(subscriber())).toBeTypeOf("function");
  });
});

describe("cost and memory", () => {
  it("makes no event for an allowed request when nobody listens", () => {
    const f = feed();
    let reads = 0;
    const r: RequestRecord = record({ service: "web" });
    // toEvent is the only reader of the request id: it must not run.
    Object.defineProperty(r, "requestId", { get: () => (reads++, "req-1") });
    f.publish(r);
    expect(reads).toBe(0);
    f.subscribe(subscriber());
    f.publish(r);
    expect(reads).toBe(1);
  });

  it("keeps only the most recent denials, newest first", () => {
    const f = feed();
    for (let i = 0; i < 1_000; i++) {
      const r = denial();
      r.requestId = `req-${i}`;
      f.publish(r);
    }
    const kept = f.recentDenials().map((e) => e.requestId);
    expect(kept).toEqual(Array.from({ length: 8 }, (_, i) => `req-${999 - i}`));
  });
});
