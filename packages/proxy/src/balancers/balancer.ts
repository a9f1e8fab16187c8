/**
 * The balancer contract: one small interface, one file per algorithm, one
 * contract test suite run against all of them (test/balancers.contract.test.ts).
 *
 * A balancer tracks which servers are eligible for new clients; the pool tells
 * it when that changes (state, backup failover, weight), so pick() never
 * rescans the whole server list to find out what is usable. pick() is on the
 * hot path of every new connection: no allocation in the common case.
 *
 * Balancers are pure: no sockets, no timers, no clock.
 */

/** What a balancer sees of a server. The pool owns the object; identity is the key. */
export interface BalancedServer {
  readonly name: string;
  /** Current weight (0-256). A weight of 0 is never picked by weighted balancers. */
  readonly weight: number;
  /** Sessions open now; maintained by the pool (onOpen/onClose are also called). */
  readonly active: number;
}

export type BalanceKind = 'roundrobin' | 'leastconn' | 'source' | 'writer';

export interface Balancer<S extends BalancedServer = BalancedServer> {
  readonly kind: BalanceKind;
  /** The server may (true) or may not (false) take new clients. Idempotent. */
  setState(server: S, eligible: boolean): void;
  /** The server's weight changed (server.weight already holds the new value). */
  setWeight(server: S, weight: number): void;
  /**
   * The server for a new client, or undefined when none may take it.
   * `clientAddress` is used by `source`; `exclude` holds servers already tried
   * for this client (retries).
   */
  pick(clientAddress: string, exclude?: ReadonlySet<S>): S | undefined;
  /** A session to `server` opened / closed. */
  onOpen(server: S): void;
  onClose(server: S): void;
}

/** Only the writer balancer has this: the control plane names the writer. */
export interface WriterBalancer<S extends BalancedServer = BalancedServer> extends Balancer<S> {
  readonly kind: 'writer';
  setWriter(server: S | undefined): void;
  writer(): S | undefined;
}
