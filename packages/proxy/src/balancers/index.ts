/**
 * The balancers and the factory that maps a service's `balance:` setting to
 * one. Each call returns a fresh, empty balancer: the pool then marks its
 * eligible servers with setState (and, for `writer`, names the writer).
 */
import { BatonError } from '@baton/core';
import type { BalancedServer, Balancer, BalanceKind, WriterBalancer } from './balancer.js';
import { LeastConnBalancer } from './leastconn.js';
import { RoundRobinBalancer } from './roundrobin.js';
import { SourceBalancer } from './source.js';
import { WriterOnlyBalancer } from './writer.js';

export type { BalancedServer, Balancer, BalanceKind, WriterBalancer } from './balancer.js';
export { LeastConnBalancer } from './leastconn.js';
export { RoundRobinBalancer, type RoundRobinOptions } from './roundrobin.js';
export { SourceBalancer, POINTS_PER_WEIGHT, hashString } from './source.js';
export { WriterOnlyBalancer } from './writer.js';

/** Every `balance:` value, in the order the docs list them. */
export const BALANCE_KINDS: readonly BalanceKind[] = ['roundrobin', 'leastconn', 'source', 'writer'];

export interface BalancerOptions {
  /** roundrobin: a sequence shared with the same service's balancers in other processes. */
  sequence?: () => number;
}

export function createBalancer<S extends BalancedServer = BalancedServer>(kind: 'writer', options?: BalancerOptions): WriterBalancer<S>;
export function createBalancer<S extends BalancedServer = BalancedServer>(kind: BalanceKind, options?: BalancerOptions): Balancer<S>;
export function createBalancer<S extends BalancedServer = BalancedServer>(kind: BalanceKind, options: BalancerOptions = {}): Balancer<S> {
  switch (kind) {
    case 'roundrobin':
      return new RoundRobinBalancer<S>(options);
    case 'leastconn':
      return new LeastConnBalancer<S>();
    case 'source':
      return new SourceBalancer<S>();
    case 'writer':
      return new WriterOnlyBalancer<S>();
    default:
      // Config validation admits only the four kinds; reaching here is a bug.
      throw new BatonError('unknown-balance', `unknown balance algorithm: ${String(kind satisfies never)}`);
  }
}

/** Type guard for the writer balancer, for code that holds a plain Balancer. */
export function isWriterBalancer<S extends BalancedServer>(b: Balancer<S>): b is WriterBalancer<S> {
  return b.kind === 'writer';
}
