/**
 * `leastconn`: a new client goes to the eligible server with the fewest open
 * sessions per unit of weight, the rule of LVS `wlc` (lowest active/weight).
 * Ratios are compared by cross-multiplication, a.active * b.weight against
 * b.active * a.weight, so no float division decides a pick. Servers that tie
 * share new clients in turn: the scan starts just after the last server
 * picked, and the first lowest found wins.
 *
 * Active counts: this balancer keeps its own count per server, moved only by
 * onOpen/onClose, and ignores `server.active`. The balancer then depends on
 * nothing but the calls it is given (the pool may update its own counter
 * before or after calling us), its tests need no shared mutable object, and a
 * stray double onClose cannot drive a count below zero.
 *
 * Invariants:
 * - `ring` holds exactly the servers marked eligible, in the order they became
 *   eligible; setState edits it in place (HAProxy's lb_fwlc keeps its tree the
 *   same way); pick() never looks at other servers.
 * - Counts survive ineligibility: a drained server's sessions still close
 *   later, and it must come back with its true load. A server that is neither
 *   eligible nor has open sessions is forgotten, so servers dropped by a
 *   reload leave nothing behind.
 * - A server whose weight is 0 is never picked.
 * - pick() allocates nothing and creates no closures.
 */
import type { BalancedServer, Balancer } from './balancer.js';
import { normalizeWeight } from './weight.js';

interface Entry<S> {
  readonly server: S;
  weight: number;
  /** Sessions open now, from onOpen/onClose. */
  active: number;
  /** Position in `ring`, or -1 when not eligible. */
  index: number;
}

export class LeastConnBalancer<S extends BalancedServer = BalancedServer> implements Balancer<S> {
  readonly kind = 'leastconn' as const;
  readonly #entries = new Map<S, Entry<S>>();
  readonly #ring: Entry<S>[] = [];
  /** Where the next scan starts: one past the last server picked. */
  #cursor = 0;

  setState(server: S, eligible: boolean): void {
    if (!eligible) {
      const entry = this.#entries.get(server);
      if (entry === undefined || entry.index < 0) return;
      this.#ring.splice(entry.index, 1);
      for (let i = entry.index; i < this.#ring.length; i++) (this.#ring[i] as Entry<S>).index = i;
      // Keep the turn on the server that followed the removed one.
      if (this.#cursor > entry.index) this.#cursor--;
      entry.index = -1;
      this.#forgetIfIdle(entry);
      return;
    }
    const entry = this.#entry(server);
    if (entry.index >= 0) return;
    // Kept only for its session count while out; the pool's weight is current.
    entry.weight = normalizeWeight(server.weight);
    entry.index = this.#ring.length;
    this.#ring.push(entry);
  }

  setWeight(server: S, weight: number): void {
    // An untracked server gets its weight from server.weight when it comes in.
    const entry = this.#entries.get(server);
    if (entry !== undefined) entry.weight = normalizeWeight(weight);
  }

  pick(_clientAddress: string, exclude?: ReadonlySet<S>): S | undefined {
    const ring = this.#ring;
    const n = ring.length;
    if (n === 0) return undefined;
    const start = this.#cursor < n ? this.#cursor : 0;
    let best: Entry<S> | undefined;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      const e = ring[i] as Entry<S>;
      if (e.weight === 0) continue;
      if (exclude !== undefined && exclude.has(e.server)) continue;
      // e.active/e.weight < best.active/best.weight, without dividing.
      // Strict '<' keeps the first of equals in scan order: the tie-break.
      if (best === undefined || e.active * best.weight < best.active * e.weight) best = e;
    }
    if (best === undefined) return undefined;
    this.#cursor = best.index + 1;
    return best.server;
  }

  onOpen(server: S): void {
    this.#entry(server).active++;
  }

  onClose(server: S): void {
    const entry = this.#entries.get(server);
    if (entry === undefined || entry.active === 0) return;
    entry.active--;
    this.#forgetIfIdle(entry);
  }

  /** Sessions this balancer counts as open on `server` (for status and tests). */
  activeOf(server: S): number {
    return this.#entries.get(server)?.active ?? 0;
  }

  /** An ineligible server with no session left has nothing worth keeping. */
  #forgetIfIdle(entry: Entry<S>): void {
    if (entry.index < 0 && entry.active === 0) this.#entries.delete(entry.server);
  }

  #entry(server: S): Entry<S> {
    let entry = this.#entries.get(server);
    if (entry === undefined) {
      entry = { server, weight: normalizeWeight(server.weight), active: 0, index: -1 };
      this.#entries.set(server, entry);
    }
    return entry;
  }
}
