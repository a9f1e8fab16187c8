/**
 * The Galera writer pick (`writer.pick: galera-index`): among the servers that
 * are up, the one with the lowest wsrep_local_index. Pure.
 *
 * Why the index: every member of a Primary component sees the same membership
 * and so the same indexes, so two Baton control planes that check the same
 * cluster independently pick the same writer without talking to each other,
 * and writes never land on two nodes at once (no certification conflicts).
 *
 * Invariants: a server that is down, or has no index reported yet, is never
 * picked; ties (possible while the nodes' views differ during a membership
 * change) go to the earlier server in the given order; no candidate gives
 * undefined.
 */
import type { CheckInfo } from './probe.js';

export interface GaleraCandidate {
  name: string;
  up: boolean;
  /** The latest info the server's checks reported (galeraIndex). */
  info?: CheckInfo;
}

export function pickGaleraWriter(candidates: readonly GaleraCandidate[]): string | undefined {
  let best: { name: string; index: number } | undefined;
  for (const c of candidates) {
    const index = c.info?.galeraIndex;
    if (!c.up || index === undefined || !Number.isInteger(index) || index < 0) continue;
    if (!best || index < best.index) best = { name: c.name, index };
  }
  return best?.name;
}
