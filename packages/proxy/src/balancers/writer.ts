/**
 * `writer`: every new client goes to the one server the control plane named
 * with setWriter, or to none. The writer is decided once, in the primary
 * process (config `writer.pick` / `failback`), so that every data-plane worker
 * sends writes to the same server; this balancer never chooses a writer of
 * its own, because two workers choosing independently is how a Galera cluster
 * gets writes on two nodes at once.
 *
 * Invariants:
 * - pick() returns the named writer if it is eligible and not excluded, else
 *   undefined: a refused client is safer than a write on a second node.
 * - Weight plays no part: the control plane's choice is final, even for a
 *   server whose weight is 0.
 * - Naming a writer and marking servers eligible are independent and may come
 *   in any order; a writer named before it is eligible takes clients as soon
 *   as it becomes eligible.
 * - pick() allocates nothing.
 */
import type { BalancedServer, WriterBalancer } from './balancer.js';

export class WriterOnlyBalancer<S extends BalancedServer = BalancedServer> implements WriterBalancer<S> {
  readonly kind = 'writer' as const;
  readonly #eligible = new Set<S>();
  #writer: S | undefined;

  setState(server: S, eligible: boolean): void {
    if (eligible) this.#eligible.add(server);
    else this.#eligible.delete(server);
  }

  setWeight(_server: S, _weight: number): void {
    // The writer is named, not weighed.
  }

  setWriter(server: S | undefined): void {
    this.#writer = server;
  }

  writer(): S | undefined {
    return this.#writer;
  }

  pick(_clientAddress: string, exclude?: ReadonlySet<S>): S | undefined {
    const w = this.#writer;
    if (w === undefined || !this.#eligible.has(w)) return undefined;
    if (exclude !== undefined && exclude.has(w)) return undefined;
    return w;
  }

  onOpen(_server: S): void {
    // The writer does not look at load.
  }

  onClose(_server: S): void {
    // The writer does not look at load.
  }
}
