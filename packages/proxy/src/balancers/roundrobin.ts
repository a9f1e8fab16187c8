/**
 * `roundrobin`: smooth weighted round robin, the algorithm of nginx
 * (ngx_http_upstream_get_peer). On each pick every candidate server adds its
 * weight to its `current` credit, the server with the most credit wins, and
 * the winner pays back the total weight of the candidates. Each cycle of
 * sum(weights) picks chooses every server exactly `weight` times, and the
 * picks of a heavy server are spread through the cycle instead of bunched
 * (3:1 gives a a b a, never a a a b; 5:1:1 gives a a b a c a a).
 *
 * Invariants:
 * - `ring` (and `entries`) hold exactly the servers marked eligible, in the
 *   order they became eligible; setState edits it in place, pick() never looks
 *   at servers that are not in it (HAProxy's lb_fwrr keeps its trees the same
 *   way).
 * - A server whose weight is 0 is never picked; it keeps its place so a
 *   weight change back to non-zero needs no rescan.
 * - The credits of the servers in `ring` sum to 0. A pick keeps the sum (the
 *   winner pays back exactly what the candidates earned); a change of the
 *   eligible set or of a weight resets every credit to 0 (O(n), on state
 *   changes only), so a server that left with credit or debt cannot skew the
 *   others, and the sequence simply starts a fresh smooth cycle.
 * - A candidate is an eligible, non-excluded server with weight > 0. Only
 *   candidates earn credit in a pick, so a server that was skipped because it
 *   was already tried for this client (retries) is not owed a burst later, and
 *   the others keep their relative order.
 * - pick() allocates nothing and creates no closures.
 *
 * Shared mode (`sequence` given): several processes balance one service, and
 * each pick takes the next number of a sequence they share (the daemon keeps
 * it in shared memory). Every process derives the same cycle from the same
 * eligible set: the smooth order above, computed from zero credits over the
 * servers sorted by name with their weights divided by their gcd, so number
 * n means the same server everywhere and round robin holds across processes
 * (4 servers, 400 clients: 100 each whichever process accepted them). The
 * cycle is rebuilt lazily after a change of the eligible set or a weight; a
 * pick skips forward past excluded servers.
 */
import type { BalancedServer, Balancer } from './balancer.js';
import { normalizeWeight } from './weight.js';

interface Entry<S> {
  readonly server: S;
  weight: number;
  /** Credit earned since the last time this server was picked (nginx `current_weight`). */
  current: number;
  /** Position in `ring`. */
  index: number;
}

export interface RoundRobinOptions {
  /** Returns the next number of a sequence shared with other balancers of the same service. */
  sequence?: () => number;
}

export class RoundRobinBalancer<S extends BalancedServer = BalancedServer> implements Balancer<S> {
  readonly kind = 'roundrobin' as const;
  readonly #entries = new Map<S, Entry<S>>();
  readonly #ring: Entry<S>[] = [];
  readonly #sequence: (() => number) | undefined;
  /** Shared mode: the servers of one cycle, in pick order; undefined when it must be rebuilt. */
  #cycle: S[] | undefined;

  constructor(options: RoundRobinOptions = {}) {
    this.#sequence = options.sequence;
  }

  setState(server: S, eligible: boolean): void {
    const entry = this.#entries.get(server);
    if (eligible) {
      if (entry !== undefined) return;
      // The weight is read here, not remembered while ineligible: the pool
      // keeps server.weight current, and forgetting ineligible servers means a
      // server dropped by a reload leaves nothing behind.
      const added: Entry<S> = { server, weight: normalizeWeight(server.weight), current: 0, index: this.#ring.length };
      this.#entries.set(server, added);
      this.#ring.push(added);
      this.#resetCredits();
      return;
    }
    if (entry === undefined) return;
    this.#entries.delete(server);
    // splice keeps the order of the others, so tie-breaking stays stable.
    this.#ring.splice(entry.index, 1);
    for (let i = entry.index; i < this.#ring.length; i++) (this.#ring[i] as Entry<S>).index = i;
    this.#resetCredits();
  }

  setWeight(server: S, weight: number): void {
    // An ineligible server is not tracked; setState(true) reads its weight.
    const entry = this.#entries.get(server);
    if (entry === undefined) return;
    const next = normalizeWeight(weight);
    if (next === entry.weight) return;
    entry.weight = next;
    // Credit earned at the old weight could give a burst at the new one.
    this.#resetCredits();
  }

  pick(_clientAddress: string, exclude?: ReadonlySet<S>): S | undefined {
    if (this.#sequence !== undefined) return this.#pickShared(this.#sequence(), exclude);
    const ring = this.#ring;
    let best: Entry<S> | undefined;
    let total = 0;
    for (let i = 0; i < ring.length; i++) {
      const e = ring[i] as Entry<S>;
      if (e.weight === 0) continue;
      if (exclude !== undefined && exclude.has(e.server)) continue;
      e.current += e.weight;
      total += e.weight;
      // Strict '>' keeps the first of equals: deterministic ties in ring order.
      if (best === undefined || e.current > best.current) best = e;
    }
    if (best === undefined) return undefined;
    best.current -= total;
    return best.server;
  }

  #pickShared(n: number, exclude?: ReadonlySet<S>): S | undefined {
    const cycle = (this.#cycle ??= this.#buildCycle());
    const len = cycle.length;
    if (len === 0) return undefined;
    const start = n % len;
    for (let k = 0; k < len; k++) {
      const s = cycle[(start + k) % len] as S;
      if (exclude === undefined || !exclude.has(s)) return s;
    }
    return undefined;
  }

  #buildCycle(): S[] {
    const live = this.#ring.filter((e) => e.weight > 0).sort((a, b) => (a.server.name < b.server.name ? -1 : a.server.name > b.server.name ? 1 : 0));
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    const g = live.reduce((acc, e) => gcd(acc, e.weight), 0);
    const weights = live.map((e) => e.weight / g);
    const credit = weights.map(() => 0);
    const total = weights.reduce((a, b) => a + b, 0);
    const cycle: S[] = [];
    for (let step = 0; step < total; step++) {
      let best = 0;
      for (let i = 0; i < live.length; i++) {
        credit[i]! += weights[i]!;
        if (credit[i]! > credit[best]!) best = i;
      }
      credit[best]! -= total;
      cycle.push(live[best]!.server);
    }
    return cycle;
  }

  #resetCredits(): void {
    this.#cycle = undefined;
    for (let i = 0; i < this.#ring.length; i++) (this.#ring[i] as Entry<S>).current = 0;
  }

  onOpen(_server: S): void {
    // Round robin does not look at load.
  }

  onClose(_server: S): void {
    // Round robin does not look at load.
  }
}
