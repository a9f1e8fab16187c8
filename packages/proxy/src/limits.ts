/**
 * Connection limits: how many sessions a server (or a service) may hold at
 * once, counted for the whole daemon.
 *
 * A count is either local (one process: a plain number) or shared by every
 * worker process of the daemon (a 32-bit cell in the shared memory the daemon
 * maps into each worker, taken with a compare-and-swap so two workers can
 * never both take the last slot).
 *
 * Invariants:
 * - take() succeeds only while the count is below the limit, and then raises
 *   it by one; give() lowers it by one. Every successful take() is matched by
 *   exactly one give() (the session's release).
 * - Shared counts keep, besides the daemon-wide cell, one cell per worker
 *   with what that worker holds, so the daemon can give back the slots of a
 *   worker that died with sessions open (`reclaimWorker`).
 */

export interface SlotCount {
  /** Takes one slot if fewer than `limit` are taken; false when full. */
  take(limit: number): boolean;
  /** Takes one slot whatever the limit (a client already accepted must be counted). */
  add(): void;
  /** Gives one slot back. */
  give(): void;
  /** Slots taken now, daemon-wide. */
  readonly taken: number;
}

export class LocalSlotCount implements SlotCount {
  taken = 0;

  take(limit: number): boolean {
    if (this.taken >= limit) return false;
    this.taken++;
    return true;
  }

  add(): void {
    this.taken++;
  }

  give(): void {
    if (this.taken > 0) this.taken--;
  }
}

/**
 * The shared layout: `cells` is an Int32Array over the shared memory;
 * `total` the index of the daemon-wide cell, `mine` the index of this
 * worker's own cell for the same count.
 */
export class SharedSlotCount implements SlotCount {
  constructor(
    private readonly cells: Int32Array,
    private readonly total: number,
    private readonly mine: number,
  ) {}

  get taken(): number {
    return Atomics.load(this.cells, this.total);
  }

  take(limit: number): boolean {
    const cells = this.cells;
    let seen = Atomics.load(cells, this.total);
    for (;;) {
      if (seen >= limit) return false;
      const before = Atomics.compareExchange(cells, this.total, seen, seen + 1);
      if (before === seen) break;
      seen = before;
    }
    Atomics.add(cells, this.mine, 1);
    return true;
  }

  add(): void {
    Atomics.add(this.cells, this.total, 1);
    Atomics.add(this.cells, this.mine, 1);
  }

  give(): void {
    Atomics.sub(this.cells, this.total, 1);
    Atomics.sub(this.cells, this.mine, 1);
  }
}

/**
 * Gives back what a dead worker held: its own cell is subtracted from the
 * daemon-wide one and zeroed. `pairs` lists [total, mine] cell indexes.
 */
export function reclaimWorker(cells: Int32Array, pairs: ReadonlyArray<readonly [number, number]>): number {
  let n = 0;
  for (const [total, mine] of pairs) {
    const held = Atomics.exchange(cells, mine, 0);
    if (held !== 0) {
      Atomics.sub(cells, total, held);
      n += held;
    }
  }
  return n;
}

/** Where a service finds its counts: by key (`service` or `service/server`); undefined: count locally. */
export type SlotCountSource = (key: string) => SlotCount | undefined;
