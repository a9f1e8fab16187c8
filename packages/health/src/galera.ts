/**
 * The `galera` check: one query on the kept-open monitoring connection reads
 * the node's wsrep state, and the node is up when it can serve clients:
 *
 *   wsrep_cluster_status = Primary   else galera-not-primary (minority partition)
 *   wsrep_ready = ON                 else galera-not-ready
 *   wsrep_local_state = 4 (Synced)   else galera-not-synced; 2 (Donor/Desynced) passes with donorOk
 *   wsrep_desync = OFF               else galera-desync, unless donorOk
 *   wsrep_reject_queries = NONE      else galera-reject-queries
 *   read_only = OFF                  else read-only, only with requireWritable
 *
 * `donorOk` is clustercheck's AVAILABLE_WHEN_DONOR: a node that is a state
 * donor, or desynced on purpose (a backup runs wsrep_desync=ON), keeps
 * serving. Every result carries `info.galeraIndex` (wsrep_local_index), used
 * to pick the writer identically on every control plane (writer-pick.ts).
 *
 * Invariants: exactly one round trip per check; never rejects. The status is
 * read from information_schema (MariaDB) and, when that table is missing or
 * disabled (MySQL-based Galera: Percona XtraDB Cluster), from
 * performance_schema, decided once.
 */
import { failure, stopwatch, type CheckInfo, type Probe, type ProbeTarget } from './probe.js';
import { MysqlSession, type MysqlCredentials, type Row } from './mysql-session.js';
import { truthy } from './mysql.js';

export interface GaleraProbeOptions extends MysqlCredentials {
  /** Accept wsrep_local_state 2 (Donor/Desynced) and wsrep_desync ON. */
  donorOk?: boolean;
  /** Fail with `read-only` when read_only is ON. */
  requireWritable?: boolean;
}

export interface GaleraStatus {
  localState: number | null;
  clusterStatus: string | null;
  ready: boolean;
  localIndex: number | null;
  clusterSize: number | null;
  desync: boolean;
  rejectQueries: string;
  readOnly: boolean;
}

function galeraSql(statusTable: string): string {
  const status = (name: string) => `(SELECT VARIABLE_VALUE FROM ${statusTable} WHERE VARIABLE_NAME = '${name}')`;
  return (
    'SELECT ' +
    `${status('wsrep_local_state')} AS local_state, ` +
    `${status('wsrep_cluster_status')} AS cluster_status, ` +
    `${status('wsrep_ready')} AS ready, ` +
    `${status('wsrep_local_index')} AS local_index, ` +
    `${status('wsrep_cluster_size')} AS cluster_size, ` +
    '@@global.wsrep_desync AS desync, @@global.wsrep_reject_queries AS reject_queries, @@global.read_only AS read_only'
  );
}
// information_schema compares VARIABLE_NAME case-insensitively; performance_schema stores it lower case.
const SQL_INFORMATION_SCHEMA = galeraSql('information_schema.GLOBAL_STATUS');
const SQL_PERFORMANCE_SCHEMA = galeraSql('performance_schema.global_status');

export function createGaleraProbe(target: ProbeTarget, options: GaleraProbeOptions): Probe {
  const session = new MysqlSession(target, options);
  let sql = SQL_INFORMATION_SCHEMA;
  const where = `${target.host}:${target.port}`;
  return {
    async check(signal) {
      const elapsed = stopwatch();
      let out = await session.run([sql], signal, elapsed);
      // 1109 unknown table, 3167 information_schema status disabled (MySQL 5.7+).
      if (!out.ok && sql === SQL_INFORMATION_SCHEMA && !out.result.ok && /\b(1109|3167)\b|ER_UNKNOWN_TABLE|ER_FEATURE_DISABLED/.test(out.result.detail)) {
        sql = SQL_PERFORMANCE_SCHEMA;
        out = await session.run([sql], signal, elapsed);
      }
      if (!out.ok) return out.result;
      const status = parseGaleraRow(out.rows[0]?.[0] ?? {});
      const verdict = judgeGalera(status, options);
      const info = infoOf(status);
      return verdict.ok ? { ok: true, ms: elapsed(), info } : failure(elapsed(), verdict.reason, `${where}: ${verdict.detail}`, info);
    },
    close: () => session.close(),
  };
}

export function parseGaleraRow(row: Row): GaleraStatus {
  const num = (v: unknown) => (v === null || v === undefined || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    localState: num(row.local_state),
    clusterStatus: str(row.cluster_status),
    ready: truthy(row.ready),
    localIndex: num(row.local_index),
    clusterSize: num(row.cluster_size),
    desync: truthy(row.desync),
    rejectQueries: str(row.reject_queries) ?? 'NONE',
    readOnly: truthy(row.read_only),
  };
}

const STATE_NAMES: Record<number, string> = { 1: 'Joining', 2: 'Donor/Desynced', 3: 'Joined', 4: 'Synced' };

/** Pure: the verdict on one node's wsrep state. */
export function judgeGalera(
  s: GaleraStatus,
  options: { donorOk?: boolean; requireWritable?: boolean },
): { ok: true } | { ok: false; reason: 'galera-not-primary' | 'galera-not-ready' | 'galera-not-synced' | 'galera-desync' | 'galera-reject-queries' | 'read-only'; detail: string } {
  if (s.localState === null) return { ok: false, reason: 'galera-not-synced', detail: 'no wsrep status: not a Galera node, or wsrep is off' };
  if (s.clusterStatus !== 'Primary') return { ok: false, reason: 'galera-not-primary', detail: `wsrep_cluster_status ${s.clusterStatus ?? 'NULL'}` };
  if (!s.ready) return { ok: false, reason: 'galera-not-ready', detail: 'wsrep_ready OFF' };
  const stateName = `wsrep_local_state ${s.localState} (${STATE_NAMES[s.localState] ?? 'unknown'})`;
  if (s.localState !== 4 && !(s.localState === 2 && options.donorOk)) {
    return { ok: false, reason: 'galera-not-synced', detail: s.desync ? `${stateName}, wsrep_desync ON` : stateName };
  }
  if (s.desync && !options.donorOk) return { ok: false, reason: 'galera-desync', detail: `wsrep_desync ON, ${stateName}` };
  if (s.rejectQueries.toUpperCase() !== 'NONE') return { ok: false, reason: 'galera-reject-queries', detail: `wsrep_reject_queries ${s.rejectQueries}` };
  if (s.readOnly && options.requireWritable) return { ok: false, reason: 'read-only', detail: 'read_only is ON' };
  return { ok: true };
}

function infoOf(s: GaleraStatus): CheckInfo {
  const info: CheckInfo = { desync: s.desync, readOnly: s.readOnly };
  if (s.localIndex !== null) info.galeraIndex = s.localIndex;
  if (s.localState !== null) info.galeraState = s.localState;
  if (s.clusterSize !== null) info.clusterSize = s.clusterSize;
  return info;
}
