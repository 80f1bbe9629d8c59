/**
 * Live statistics from the request feed: per direction, caller tenant and peer over a
 * sliding window (rps, success rate, p50/p99, denials) for `palisade top`; since the start,
 * a caller × target matrix of allowed, granted and denied calls and each grant's uses, for
 * the admin page. Every key is bounded the way metric labels are: tenants by config (others
 * are `unknown`), peers per tenant by `maxPeersPerTenant` (others are `other`), and every
 * map by a hard cap past which requests are counted under the overflow key.
 */
import type { RequestRecord } from "../path/record.js";
import { eventDecision, peerOf } from "./event.js";
import { SecondsWindow } from "./window.js";

export const OTHER_PEER = "other";
const NO_PEER = "-";

export interface StatsOptions {
  /** A tenant's label: configured tenants by name, anything else `unknown` (Metrics.label). */
  label: (tenant: string | undefined) => string;
  windowSeconds: number;
  maxPeersPerTenant: number;
  /** Window keys, matrix cells and grant ids, each. */
  maxKeys: number;
}

export interface TopRow {
  direction: string;
  tenant: string;
  peer: string;
  requests: number;
  rps: number;
  /** Share of requests answered without a refusal and below 500; undefined with none. */
  successRate: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  denials: number;
}

export interface MatrixCell {
  caller: string;
  target: string;
  allowed: number;
  granted: number;
  denied: number;
}

interface WindowKey {
  readonly direction: string;
  readonly tenant: string;
  readonly peer: string;
  readonly window: SecondsWindow;
}

export class LiveStats {
  readonly #options: StatsOptions;
  /** direction → tenant → peer: looked up by the strings the record has, no key per request. */
  readonly #windows = new Map<string, Map<string, Map<string, WindowKey>>>();
  #windowCount = 0;
  /** Peers seen per tenant label, to bound them. */
  readonly #peers = new Map<string, Set<string>>();
  /** caller → target. */
  readonly #matrix = new Map<string, Map<string, MatrixCell>>();
  #cellCount = 0;
  readonly #grantUses = new Map<string, number>();

  constructor(options: StatsOptions) {
    this.#options = options;
  }

  add(record: RequestRecord, nowMs: number): void {
    const tenant = this.#options.label(record.tenant);
    const decision = eventDecision(record);
    const success = record.refusal === undefined && record.status < 500;
    this.#window(record.direction, tenant, peerOf(record) ?? NO_PEER).window.add(
      nowMs,
      record.seconds * 1000,
      success,
      decision === "denied",
    );
    if (decision === "refused") return;
    this.#cell(tenant, this.#options.label(record.target ?? record.tenant))[decision]++;
    if (record.grantId !== undefined) this.#useGrant(record.grantId);
  }

  /** Rows with traffic in the window, busiest first; keys without any are forgotten. */
  top(nowMs: number): TopRow[] {
    const rows: TopRow[] = [];
    for (const key of this.#windowKeys()) {
      const t = key.window.totals(nowMs);
      if (t.requests === 0) {
        this.#forget(key);
        continue;
      }
      rows.push({
        direction: key.direction,
        tenant: key.tenant,
        peer: key.peer,
        requests: t.requests,
        rps: Math.round((t.requests / this.#options.windowSeconds) * 100) / 100,
        successRate: Math.round((t.successes / t.requests) * 10_000) / 10_000,
        p50Ms: t.p50Ms,
        p99Ms: t.p99Ms,
        denials: t.denials,
      });
    }
    return rows.sort((a, b) => b.requests - a.requests || key(a).localeCompare(key(b)));
  }

  matrix(): MatrixCell[] {
    const cells: MatrixCell[] = [];
    for (const byTarget of this.#matrix.values())
      for (const cell of byTarget.values()) cells.push({ ...cell });
    return cells;
  }

  grantUses(grantId: string): number {
    return this.#grantUses.get(grantId) ?? 0;
  }

  get windowSeconds(): number {
    return this.#options.windowSeconds;
  }

  /** How many keys are held, for the bounded-memory tests. */
  get size(): { windows: number; cells: number; grants: number } {
    return { windows: this.#windowCount, cells: this.#cellCount, grants: this.#grantUses.size };
  }

  #window(direction: string, tenant: string, rawPeer: string): WindowKey {
    const peer = this.#boundPeer(tenant, rawPeer);
    const found = this.#windows.get(direction)?.get(tenant)?.get(peer);
    if (found) return found;
    if (this.#windowCount >= this.#options.maxKeys) {
      // Full: the overflow key is made even past the cap (one more, once).
      const overflow = this.#windows.get(direction)?.get("unknown")?.get(OTHER_PEER);
      return overflow ?? this.#make(direction, "unknown", OTHER_PEER);
    }
    return this.#make(direction, tenant, peer);
  }

  #make(direction: string, tenant: string, peer: string): WindowKey {
    const made = {
      direction,
      tenant,
      peer,
      window: new SecondsWindow(this.#options.windowSeconds),
    };
    let byTenant = this.#windows.get(direction);
    if (!byTenant)
      this.#windows.set(direction, (byTenant = new Map<string, Map<string, WindowKey>>()));
    let byPeer = byTenant.get(tenant);
    if (!byPeer) byTenant.set(tenant, (byPeer = new Map<string, WindowKey>()));
    byPeer.set(peer, made);
    this.#windowCount++;
    return made;
  }

  *#windowKeys(): Generator<WindowKey> {
    for (const byTenant of this.#windows.values())
      for (const byPeer of byTenant.values()) yield* byPeer.values();
  }

  #boundPeer(tenant: string, peer: string): string {
    let peers = this.#peers.get(tenant);
    if (!peers) this.#peers.set(tenant, (peers = new Set()));
    if (peers.has(peer)) return peer;
    if (peers.size >= this.#options.maxPeersPerTenant) return OTHER_PEER;
    peers.add(peer);
    return peer;
  }

  #forget(key: WindowKey): void {
    const byTenant = this.#windows.get(key.direction);
    const byPeer = byTenant?.get(key.tenant);
    if (!byPeer?.delete(key.peer)) return;
    this.#windowCount--;
    if (byPeer.size === 0) byTenant?.delete(key.tenant);
    let stillUsed = false;
    for (const other of this.#windows.values())
      stillUsed ||= other.get(key.tenant)?.has(key.peer) === true;
    if (!stillUsed) this.#peers.get(key.tenant)?.delete(key.peer);
  }

  #cell(caller: string, target: string): MatrixCell {
    let byTarget = this.#matrix.get(caller);
    const cell = byTarget?.get(target);
    if (cell) return cell;
    if (this.#cellCount >= this.#options.maxKeys) {
      const overflow = this.#matrix.get("unknown")?.get("unknown");
      if (overflow) return overflow;
      caller = "unknown";
      target = "unknown";
      byTarget = this.#matrix.get(caller);
    }
    const made = { caller, target, allowed: 0, granted: 0, denied: 0 };
    if (!byTarget) this.#matrix.set(caller, (byTarget = new Map<string, MatrixCell>()));
    byTarget.set(target, made);
    this.#cellCount++;
    return made;
  }

  #useGrant(grantId: string): void {
    const uses = this.#grantUses.get(grantId);
    if (uses !== undefined) this.#grantUses.set(grantId, uses + 1);
    else if (this.#grantUses.size < this.#options.maxKeys) this.#grantUses.set(grantId, 1);
  }
}

function key(row: TopRow): string {
  return `${row.direction} ${row.tenant} ${row.peer}`;
}
