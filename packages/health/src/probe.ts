/**
 * The Probe contract every health checker implements, and the result values
 * they return.
 *
 * Invariants:
 * - `check()` never rejects and never throws: an expected failure (refused,
 *   timed out, wrong password, not synced) is a `CheckResult` with a `reason`.
 * - `check()` settles promptly once its signal aborts, with a timeout result
 *   naming the layer it was stuck at (`l4-timeout` before the TCP connect
 *   completed, `l7-timeout` after). The scheduler aborts at the check timeout.
 * - One probe serves one server and is never asked to run two checks at once;
 *   it may keep state between checks (the MySQL probes keep their connection).
 * - `reason` is a closed set of short strings: it is both the metric label and
 *   the log key, in the spirit of HAProxy's check status codes (L4CON,
 *   L4TOUT, L7STS ...).
 */

export type CheckReason =
  /** TCP connect refused (RST): nothing listens on the port. */
  | 'l4-refused'
  /** TCP connect did not complete within the check timeout. */
  | 'l4-timeout'
  /** Other socket-level failure: unreachable, reset, DNS. */
  | 'l4-error'
  /** Connected, but the answer did not come within the check timeout. */
  | 'l7-timeout'
  /** The server refused our credentials (MySQL 1045 and friends). */
  | 'l7-auth'
  /** MySQL refuses this host for too many aborted connects (1129), or the host is not allowed (1130). */
  | 'l7-blocked'
  /** HTTP status other than the expected one. */
  | 'l7-status'
  /** HTTP body without the expected substring. */
  | 'l7-expect'
  /** The check query failed (syntax, privileges, server error). */
  | 'l7-query'
  /** The connection broke or the server spoke something unexpected. */
  | 'l7-error'
  /** Galera: wsrep_local_state is not Synced (4), nor Donor (2) with donor_ok. */
  | 'galera-not-synced'
  /** Galera: wsrep_cluster_status is not Primary (the node is in a minority partition). */
  | 'galera-not-primary'
  /** Galera: wsrep_ready is not ON. */
  | 'galera-not-ready'
  /** Galera: wsrep_desync is ON and donor_ok is false. */
  | 'galera-desync'
  /** Galera: wsrep_reject_queries is not NONE. */
  | 'galera-reject-queries'
  /** read_only is ON where the check requires a writable server. */
  | 'read-only'
  /** Replication lag above max_replica_lag, or replication not running. */
  | 'lag'
  /** The script exited non-zero or was killed by a signal. */
  | 'script-exit'
  /** The script ran past the timeout and was killed. */
  | 'script-timeout'
  /** The script could not be started. */
  | 'script-error';

/** Every label a check can produce: `ok` or a failure reason. */
export type CheckLabel = 'ok' | CheckReason;

/** Facts a probe learned about the server, reported with the result. */
export interface CheckInfo {
  /** Galera wsrep_local_index: the node's position in the current membership. */
  galeraIndex?: number;
  /** Galera wsrep_local_state (4 Synced, 2 Donor/Desynced, 1 Joining, 3 Joined). */
  galeraState?: number;
  /** Galera wsrep_cluster_size. */
  clusterSize?: number;
  /** Galera wsrep_desync. */
  desync?: boolean;
  /** The server's global read_only. */
  readOnly?: boolean;
  /** Seconds_Behind_Master; null when replication is configured but not running. Absent when not a replica or not checked. */
  replicaLagS?: number | null;
}

export type CheckResult =
  | { ok: true; ms: number; info?: CheckInfo }
  | { ok: false; ms: number; reason: CheckReason; detail: string; info?: CheckInfo };

export interface Probe {
  /** Runs one check. Never rejects; settles promptly after `signal` aborts. */
  check(signal: AbortSignal): Promise<CheckResult>;
  /** Releases what the probe holds between checks (connections). Idempotent. */
  close(): Promise<void>;
}

/** Where a probe connects. */
export interface ProbeTarget {
  host: string;
  port: number;
  /**
   * The server expects a PROXY protocol header (version 1 or 2) first: a
   * mysql or galera check sends the one meant for a check (v1 UNKNOWN, v2
   * LOCAL), so the server uses the check's own address.
   */
  sendProxy?: 1 | 2;
}

/** The metric label / log key of a result. */
export function labelOf(result: CheckResult): CheckLabel {
  return result.ok ? 'ok' : result.reason;
}

/** A failure result; `ms` is measured by the caller from its own start time. */
export function failure(ms: number, reason: CheckReason, detail: string, info?: CheckInfo): CheckResult {
  return info ? { ok: false, ms, reason, detail, info } : { ok: false, ms, reason, detail };
}

/** A stopwatch in whole milliseconds from a monotonic source. */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => Math.round(performance.now() - started);
}

/** Socket error codes that mean "the TCP layer failed", with their reason. */
export function socketReason(code: string | undefined): CheckReason {
  if (code === 'ECONNREFUSED') return 'l4-refused';
  if (code === 'ETIMEDOUT') return 'l4-timeout';
  return 'l4-error';
}
