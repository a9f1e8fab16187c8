/**
 * The `mysql` check: log in (on a kept-open connection, see mysql-session.ts),
 * run `query` (default `SELECT 1`), and optionally require the server to be
 * writable (`read_only` OFF) and a replica to be within `max_replica_lag`.
 *
 * Invariants: never rejects; a failed login is `l7-auth` (or `l7-blocked`),
 * a read-only server under `requireWritable` is `read-only`, too much lag or a
 * stopped replica is `lag`. Replica status is read with SHOW REPLICA STATUS
 * (MariaDB 10.5+, MySQL 8.0.22+) and falls back to SHOW SLAVE STATUS once on
 * older servers.
 */
import { failure, stopwatch, type CheckInfo, type CheckResult, type Probe, type ProbeTarget } from './probe.js';
import { MysqlSession, type MysqlCredentials, type Row } from './mysql-session.js';

export interface MysqlProbeOptions extends MysqlCredentials {
  /** Default `SELECT 1`. */
  query?: string;
  /** Fail with `read-only` when @@global.read_only is ON. */
  requireWritable?: boolean;
  /** Fail with `lag` when this server is a replica more than this many seconds behind, or not replicating. */
  maxReplicaLagS?: number;
}

export function createMysqlProbe(target: ProbeTarget, options: MysqlProbeOptions): Probe {
  const session = new MysqlSession(target, options);
  let replicaSql = 'SHOW REPLICA STATUS';
  return {
    async check(signal) {
      const elapsed = stopwatch();
      const sqls = [options.query ?? 'SELECT 1'];
      if (options.requireWritable) sqls.push('SELECT @@global.read_only AS read_only');
      const out = await session.run(sqls, signal, elapsed);
      if (!out.ok) return out.result;
      const info: CheckInfo = {};
      if (options.requireWritable) {
        info.readOnly = truthy(out.rows[1]?.[0]?.read_only);
        if (info.readOnly) return failure(elapsed(), 'read-only', `${target.host}:${target.port}: read_only is ON`, info);
      }
      if (options.maxReplicaLagS !== undefined) {
        let status = await session.run([replicaSql], signal, elapsed);
        if (!status.ok && replicaSql === 'SHOW REPLICA STATUS' && /ER_PARSE_ERROR|1064/.test(detailOf(status.result))) {
          replicaSql = 'SHOW SLAVE STATUS';
          status = await session.run([replicaSql], signal, elapsed);
        }
        if (!status.ok) return status.result;
        const verdict = evaluateReplicaStatus(status.rows[0] ?? [], options.maxReplicaLagS);
        if (verdict.lagS !== undefined) info.replicaLagS = verdict.lagS;
        if (!verdict.ok) return failure(elapsed(), 'lag', `${target.host}:${target.port}: ${verdict.detail}`, info);
      }
      return Object.keys(info).length > 0 ? { ok: true, ms: elapsed(), info } : { ok: true, ms: elapsed() };
    },
    close: () => session.close(),
  };
}

/**
 * Judges SHOW REPLICA STATUS rows. Pure. No row: not a replica, nothing to
 * judge. A NULL Seconds_Behind_Master: replication is configured but one of
 * its threads is stopped, which is as bad as unbounded lag.
 */
export function evaluateReplicaStatus(
  rows: readonly Row[],
  maxLagS: number,
): { ok: true; lagS?: number } | { ok: false; lagS: number | null; detail: string } {
  const row = rows[0];
  if (!row) return { ok: true };
  const raw = row.Seconds_Behind_Master ?? row.Seconds_Behind_Source ?? null;
  if (raw === null || raw === undefined || raw === '') {
    const io = row.Slave_IO_Running ?? row.Replica_IO_Running ?? '?';
    const sql = row.Slave_SQL_Running ?? row.Replica_SQL_Running ?? '?';
    return { ok: false, lagS: null, detail: `replication not running (IO ${String(io)}, SQL ${String(sql)})` };
  }
  const lagS = Number(raw);
  if (!Number.isFinite(lagS)) return { ok: false, lagS: null, detail: `unreadable replica lag ${JSON.stringify(raw)}` };
  if (lagS > maxLagS) return { ok: false, lagS, detail: `replica ${lagS}s behind, max ${maxLagS}s` };
  return { ok: true, lagS };
}

/** MySQL answers flags as 0/1, '0'/'1', 'ON'/'OFF' depending on the path. */
export function truthy(v: unknown): boolean {
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) !== 0;
  if (typeof v === 'string') return /^(1|on|yes|true)$/i.test(v.trim());
  return v === true;
}

function detailOf(r: CheckResult): string {
  return r.ok ? '' : r.detail;
}
