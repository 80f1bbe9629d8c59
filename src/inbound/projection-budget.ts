/**
 * The process-wide bound on bytes held for projection. A projecting grant must hold the
 * whole document before anything leaves, and `projection.maxBytes` bounds one document
 * only: without a global bound, concurrent granted requests for large documents grow
 * memory with the number in flight. One budget per sidecar, kept across config
 * generations; each lease reads its limit from the generation its request started with,
 * so a lowered limit refuses new bytes at once and never strands bytes already held.
 */
import { Counter, Gauge, type Registry } from "prom-client";

/** One response's share of the budget. */
export interface ProjectionLease {
  /** Bytes this lease holds now. */
  readonly bytes: number;
  /**
   * Holds exactly `bytes` (more or fewer than now). False, holding what it held, when
   * growing would take the process over the limit or the lease was released.
   */
  hold(bytes: number): boolean;
  /** Gives everything back; later calls do nothing. */
  release(): void;
}

export class ProjectionBudget {
  #held = 0;
  readonly #exceeded: Counter;

  constructor(registry: Registry) {
    const heldBytes = (): number => this.#held;
    new Gauge({
      name: "palisade_projection_buffered_bytes",
      help: "Response bytes held by projecting grants across the process.",
      registers: [registry],
      collect() {
        this.set(heldBytes());
      },
    });
    this.#exceeded = new Counter({
      name: "palisade_projection_budget_exceeded_total",
      help: "Projected responses refused because projection.maxBufferedBytes was reached.",
      registers: [registry],
    });
  }

  /** Bytes held by every open lease. */
  get heldBytes(): number {
    return this.#held;
  }

  lease(limit: number): ProjectionLease {
    let bytes = 0;
    let open = true;
    return {
      get bytes() {
        return bytes;
      },
      hold: (wanted) => {
        if (!open) return false;
        const more = wanted - bytes;
        if (more > 0 && this.#held + more > limit) {
          this.#exceeded.inc();
          return false;
        }
        this.#held += more;
        bytes = wanted;
        return true;
      },
      release: () => {
        if (!open) return;
        open = false;
        this.#held -= bytes;
        bytes = 0;
      },
    };
  }
}
