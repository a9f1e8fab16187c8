/**
 * The writer decision for a writer service, as a pure function: every Baton
 * node that sees the same server states (and the same Galera indexes) names
 * the same writer.
 *
 * - pick 'first': the first up server in config order.
 * - pick 'galera-index': the up server with the lowest wsrep_local_index
 *   (pickGaleraWriter from @baton/health: config order breaks ties; a server
 *   with no index reported yet is not picked).
 * - failback false: the current writer stays while it is up, even when a
 *   server that would be picked first comes back.
 * - Backup servers are picked only while no primary is up.
 */
import { pickGaleraWriter } from '@baton/health';
import type { WriterConfig } from './config/types.js';

export interface WriterCandidate {
  name: string;
  /** Up by health and not drained or in maintenance. */
  up: boolean;
  backup: boolean;
  galeraIndex?: number;
}

export function chooseWriter(cfg: WriterConfig, candidates: readonly WriterCandidate[], current: string | null): string | null {
  const byName = new Map(candidates.map((c) => [c.name, c]));
  if (!cfg.failback && current !== null && byName.get(current)?.up) return current;
  const up = candidates.filter((c) => c.up);
  const primaries = up.filter((c) => !c.backup);
  const pool = primaries.length > 0 ? primaries : up;
  if (pool.length === 0) return null;
  if (cfg.pick === 'first') return pool[0]!.name;
  return pickGaleraWriter(pool.map((c) => ({ name: c.name, up: true, info: { galeraIndex: c.galeraIndex } }))) ?? null;
}
