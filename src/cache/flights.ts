/**
 * Upstream fetches in progress whose responses might be stored ("fills"), per tenant and URL.
 * At most one fill per tenant URL is the leader that concurrent misses wait on; every fill,
 * leader or not, can be doomed by an invalidation so that a response fetched before a
 * `POST`/purge is not stored after it.
 */
import type { PurgeNames } from "./stored-response.js";

export interface Fill extends PurgeNames {
  readonly tenant: string;
  readonly primary: string;
  /** Set by an invalidation that happened while this fill was in flight: do not store. */
  doomed: boolean;
  /** Ends the fill; waiters on a leader learn whether its response is now in the cache. */
  settle(stored: boolean): void;
}

interface Leader {
  readonly done: Promise<boolean>;
}

export class Flights {
  readonly #leaders = new Map<string, Leader>();
  readonly #fills = new Map<string, Set<Fill>>();

  /** Resolves when the current leader for this tenant URL settles: true if it was stored. */
  leader(tenant: string, primary: string): Promise<boolean> | undefined {
    return this.#leaders.get(flightKey(tenant, primary))?.done;
  }

  /** Starts a fill; `lead` makes it the one others wait on (ignored if there already is one). */
  begin(tenant: string, primary: string, names: PurgeNames, lead: boolean): Fill {
    const key = flightKey(tenant, primary);
    let resolve: (stored: boolean) => void = () => {};
    let leader: Leader | undefined;
    if (lead && !this.#leaders.has(key)) {
      leader = { done: new Promise<boolean>((r) => (resolve = r)) };
      this.#leaders.set(key, leader);
    }
    let fills = this.#fills.get(key);
    if (!fills) this.#fills.set(key, (fills = new Set()));
    let settled = false;
    const fill: Fill = {
      tenant,
      primary,
      target: names.target,
      url: names.url,
      doomed: false,
      settle: (stored) => {
        if (settled) return;
        settled = true;
        if (leader && this.#leaders.get(key) === leader) this.#leaders.delete(key);
        const set = this.#fills.get(key);
        set?.delete(fill);
        if (set?.size === 0) this.#fills.delete(key);
        resolve(stored);
      },
    };
    fills.add(fill);
    return fill;
  }

  /** Dooms the fills of one tenant URL. */
  doom(tenant: string, primary: string): void {
    for (const fill of this.#fills.get(flightKey(tenant, primary)) ?? []) fill.doomed = true;
  }

  /** Dooms the fills of `tenant` that `matches` selects (purges by prefix). */
  doomWhere(tenant: string, matches: (fill: Fill) => boolean): void {
    for (const fills of this.#fills.values()) {
      for (const fill of fills) if (fill.tenant === tenant && matches(fill)) fill.doomed = true;
    }
  }
}

/** Tenant ids are DNS labels, so `\n` cannot make two tenants' keys collide. */
function flightKey(tenant: string, primary: string): string {
  return `${tenant}\n${primary}`;
}
