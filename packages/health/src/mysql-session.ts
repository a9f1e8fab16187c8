/**
 * One long-lived monitoring connection to one MySQL/MariaDB server, shared by
 * the `mysql` and `galera` probes.
 *
 * Why keep it open: a check that connects and disconnects every interval
 * (HAProxy's `mysql-check`, or a plain TCP check) looks to the server like a
 * client that keeps dropping, and every drop before authentication raises
 * `Aborted_connects` and the host's error counter; after
 * `max_connect_errors` of them the server blocks the load balancer's host
 * ("Host is blocked because of many connection errors", 1129) and every
 * check fails from then on. One authenticated connection, reused, costs the
 * server nothing per check.
 *
 * Invariants:
 * - At most one connection per session; it is created at the first check and
 *   after any connection-level error, never two at once.
 * - Every error destroys the connection (except an SQL error from the query
 *   itself, which leaves a healthy connection usable), so the next check
 *   starts clean.
 * - An 'error' listener is always attached: a connection the server closes
 *   while idle is marked dead, never an uncaught 'error' event.
 * - `run()` never rejects; on abort it destroys the connection and settles at
 *   once with `l4-timeout` (TCP not yet connected) or `l7-timeout`.
 * - A query that fails because a reused connection had silently died (server
 *   restarted, idle kill) is retried once on a fresh connection within the
 *   same check, so a healthy server is not marked failed for our stale socket.
 */
import { createConnection, type Connection, type QueryError } from 'mysql2';
import net from 'node:net';
import { proxyCheckHeader } from './proxy-header.js';
import { failure, type CheckReason, type CheckResult, type ProbeTarget } from './probe.js';

export interface MysqlCredentials {
  user: string;
  /** The resolved password (the daemon reads it from the `password_env` variable). */
  password?: string;
  database?: string;
  /** Bound on TCP connect plus handshake; default 10 s. The check timeout aborts sooner. */
  connectTimeoutMs?: number;
}

export type Row = Record<string, unknown>;
export type QueryOutcome = { ok: true; rows: Row[] } | { ok: false; result: CheckResult };

type Live = { conn: Connection; dead: boolean; tcpConnected: boolean };

/** MySQL error numbers that mean "these credentials are not accepted". */
const AUTH_ERRNOS = new Set([
  1044, // ER_DBACCESS_DENIED_ERROR
  1045, // ER_ACCESS_DENIED_ERROR
  1251, // ER_NOT_SUPPORTED_AUTH_MODE
  1698, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
  1820, // ER_MUST_CHANGE_PASSWORD
  1862, // ER_MUST_CHANGE_PASSWORD_LOGIN
  3118, // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
  4151, // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
]);
/** 1129 ER_HOST_IS_BLOCKED, 1130 ER_HOST_NOT_PRIVILEGED. */
const BLOCKED_ERRNOS = new Set([1129, 1130]);

export class MysqlSession {
  private live: Live | undefined;
  private closed = false;

  constructor(
    private readonly target: ProbeTarget,
    private readonly creds: MysqlCredentials,
  ) {}

  /**
   * Runs `sqls` in order on the session's connection (connecting first when
   * needed) and returns each statement's rows, or the failure as a result.
   */
  async run(sqls: readonly string[], signal: AbortSignal, elapsed: () => number): Promise<{ ok: true; rows: Row[][] } | { ok: false; result: CheckResult }> {
    for (let attempt = 0; ; attempt++) {
      const reused = this.live !== undefined && !this.live.dead;
      const live = reused ? this.live! : await this.open(signal, elapsed);
      if ('result' in live) return { ok: false, result: live.result };
      const out: Row[][] = [];
      let failed: { result: CheckResult; connectionLevel: boolean } | undefined;
      for (const sql of sqls) {
        const r = await this.query(live, sql, signal, elapsed);
        if (!r.ok) {
          failed = r;
          break;
        }
        out.push(r.rows);
      }
      if (!failed) return { ok: true, rows: out };
      if (reused && failed.connectionLevel && attempt === 0 && !signal.aborted) continue;
      return { ok: false, result: failed.result };
    }
  }

  /** Ends the connection politely (COM_QUIT, so the server counts no aborted client), destroying it if that stalls. */
  async close(): Promise<void> {
    this.closed = true;
    const live = this.live;
    this.live = undefined;
    if (!live || live.dead) {
      live?.conn.destroy();
      return;
    }
    live.dead = true;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        live.conn.destroy();
        resolve();
      };
      const timer = setTimeout(finish, 1000);
      timer.unref();
      // mysql2 calls end()'s callback before COM_QUIT is written; wait for the
      // server to close the socket instead, or it counts an aborted client.
      const stream = (live.conn as unknown as { stream?: { once(e: string, f: () => void): void } }).stream;
      if (stream) stream.once('close', finish);
      live.conn.end(() => {});
    });
  }

  private drop(live: Live): void {
    live.dead = true;
    live.conn.destroy();
    if (this.live === live) this.live = undefined;
  }

  private open(signal: AbortSignal, elapsed: () => number): Promise<Live | { result: CheckResult }> {
    const where = `${this.target.host}:${this.target.port}`;
    if (this.closed) return Promise.resolve({ result: failure(elapsed(), 'l7-error', `${where}: probe closed`) });
    if (signal.aborted) return Promise.resolve({ result: failure(elapsed(), 'l4-timeout', `${where}: aborted before connect`) });
    // A server behind PROXY protocol reads the header first; the check's own is the "local" one.
    let proxied: net.Socket | undefined;
    if (this.target.sendProxy) {
      proxied = net.connect({ host: this.target.host, port: this.target.port });
      proxied.write(proxyCheckHeader(this.target.sendProxy));
    }
    const conn = createConnection({
      host: this.target.host,
      port: this.target.port,
      ...(proxied ? { stream: proxied } : {}),
      user: this.creds.user,
      password: this.creds.password ?? '',
      database: this.creds.database,
      connectTimeout: this.creds.connectTimeoutMs ?? 10_000,
      connectAttributes: { program_name: 'baton-health' },
    });
    const live: Live = { conn, dead: false, tcpConnected: false };
    // The raw socket tells us which layer an abort caught us at.
    const stream = (conn as unknown as { stream?: { once(e: string, f: () => void): void } }).stream;
    stream?.once('connect', () => (live.tcpConnected = true));
    // Always listening: the server may close an idle connection at any time.
    conn.on('error', () => this.drop(live));
    conn.on('end', () => this.drop(live));
    return new Promise((resolve) => {
      let settled = false;
      const settle = (v: Live | { result: CheckResult }) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => {
        this.drop(live);
        settle({
          result: live.tcpConnected
            ? failure(elapsed(), 'l7-timeout', `${where}: no MySQL handshake within the timeout`)
            : failure(elapsed(), 'l4-timeout', `${where}: no TCP connect within the timeout`),
        });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      conn.connect((err) => {
        if (err) {
          this.drop(live);
          settle({ result: failure(elapsed(), classify(err, live.tcpConnected, 'connect'), `${where}: ${describe(err)}`) });
        } else if (live.dead) {
          settle({ result: failure(elapsed(), 'l7-error', `${where}: connection closed during login`) });
        } else {
          this.live = live;
          settle(live);
        }
      });
    });
  }

  private query(
    live: Live,
    sql: string,
    signal: AbortSignal,
    elapsed: () => number,
  ): Promise<{ ok: true; rows: Row[] } | { ok: false; result: CheckResult; connectionLevel: boolean }> {
    const where = `${this.target.host}:${this.target.port}`;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (v: { ok: true; rows: Row[] } | { ok: false; result: CheckResult; connectionLevel: boolean }) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => {
        // A query we stop waiting for would leave the protocol mid-sequence: drop the connection.
        this.drop(live);
        settle({ ok: false, result: failure(elapsed(), 'l7-timeout', `${where}: no answer to the check query within the timeout`), connectionLevel: false });
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      live.conn.query(sql, (err: QueryError | null, rows: unknown) => {
        if (err) {
          const fatal = (err as { fatal?: boolean }).fatal === true || live.dead;
          if (fatal) this.drop(live);
          settle({ ok: false, result: failure(elapsed(), classify(err, true, 'query'), `${where}: ${describe(err)}`), connectionLevel: fatal });
          return;
        }
        settle({ ok: true, rows: Array.isArray(rows) ? (rows as Row[]) : [] });
      });
    });
  }
}

/** Maps a mysql2 error to a check reason, by layer and phase. */
export function classify(err: { code?: string; errno?: number }, tcpConnected: boolean, phase: 'connect' | 'query'): CheckReason {
  const errno = err.errno ?? 0;
  if (AUTH_ERRNOS.has(errno)) return 'l7-auth';
  if (BLOCKED_ERRNOS.has(errno)) return 'l7-blocked';
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'l4-refused';
  if (code === 'ETIMEDOUT') return tcpConnected ? 'l7-timeout' : 'l4-timeout';
  if (!tcpConnected && /^E[A-Z]+$/.test(code)) return 'l4-error';
  // A server error number during the query: the SQL failed, the server answered.
  if (phase === 'query' && errno >= 1000 && !code.startsWith('PROTOCOL_')) return 'l7-query';
  return 'l7-error';
}

function describe(err: { code?: string; errno?: number; message?: string }): string {
  const msg = (err.message ?? '').replace(/\s+/g, ' ').trim();
  return err.code && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg || String(err.code);
}
