/**
 * A throwaway MariaDB server for tests: mariadb-install-db into a temp dir,
 * mariadbd on a free 127.0.0.1 port, an admin user made by --init-file, and
 * stop() that kills by PID, waits for the exit and removes the dir.
 *
 * Invariants:
 * - Everything lives under one mkdtemp dir; nothing touches /etc/mysql or
 *   /var/lib/mysql (--no-defaults).
 * - Every mariadbd started here is remembered; a process 'exit' (and SIGINT /
 *   SIGTERM) handler kills the survivors by PID and removes their dirs, so a
 *   crashed test run leaves no server behind.
 * - Startup is kept short: a 32 MB buffer pool, 8 MB redo log, no binary
 *   log, no name resolution, and readiness is polled every 100 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { isRoot } from '@baton/core';
import { freePort } from './ports.js';

export const MARIADBD = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].find((p) => existsSync(p)) ?? 'mariadbd';
export const INSTALL_DB = ['/usr/bin/mariadb-install-db', '/usr/sbin/mariadb-install-db'].find((p) => existsSync(p)) ?? 'mariadb-install-db';

/** Whether this machine can run the MariaDB tests, and why not. */
export function mariadbCapability(): { ok: boolean; reason: string } {
  const missing = [MARIADBD, INSTALL_DB].filter((p) => !existsSync(p));
  return missing.length === 0 ? { ok: true, reason: '' } : { ok: false, reason: `MariaDB not installed (missing ${missing.join(', ')}); run scripts/install-test-deps.sh` };
}

export interface DbUser {
  user: string;
  password: string;
  /** Default: USAGE only (enough for SELECT 1, @@global.* and SHOW STATUS). */
  grants?: string;
}

export const ADMIN = { user: 'baton_admin', password: 'baton-admin-pw' } as const;

/** SQL for --init-file: the admin user and the requested users, for 127.0.0.1 (skip-name-resolve). */
export function usersSql(users: readonly DbUser[]): string {
  const lines = [
    `CREATE USER IF NOT EXISTS '${ADMIN.user}'@'127.0.0.1' IDENTIFIED BY '${ADMIN.password}';`,
    `GRANT ALL ON *.* TO '${ADMIN.user}'@'127.0.0.1' WITH GRANT OPTION;`,
  ];
  for (const u of users) {
    lines.push(`CREATE USER IF NOT EXISTS '${u.user}'@'127.0.0.1' IDENTIFIED BY '${u.password}';`);
    lines.push(`GRANT ${u.grants ?? 'USAGE'} ON *.* TO '${u.user}'@'127.0.0.1';`);
  }
  return lines.join('\n') + '\n';
}

/** The arguments every test mariadbd gets: small, fast, local, isolated. */
export function baseArgs(dir: string, datadir: string, port: number, name: string): string[] {
  return [
    '--no-defaults',
    ...(isRoot() ? ['--user=root'] : []),
    `--datadir=${datadir}`,
    `--socket=${join(dir, `${name}.sock`)}`,
    `--pid-file=${join(dir, `${name}.pid`)}`,
    `--log-error=${join(dir, `${name}.err`)}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=2',
    '--max-connections=100',
    `--tmpdir=${dir}`,
  ];
}

/** Runs mariadb-install-db into `datadir`; rejects with its output on failure. */
export function installDb(datadir: string): Promise<void> {
  const args = ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...(isRoot() ? ['--user=root'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(INSTALL_DB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mariadb-install-db exited ${code}: ${out.slice(-2000)}`))));
  });
}

// ---- process bookkeeping: nothing survives the test process ----

interface Tracked {
  child?: ChildProcess;
  dir?: string;
}
const tracked = new Set<Tracked>();
let handlersInstalled = false;

function killSurvivors(): void {
  for (const t of tracked) {
    if (t.child?.pid !== undefined && !exited(t.child)) {
      try {
        process.kill(t.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (t.dir) rmSync(t.dir, { recursive: true, force: true });
  }
  tracked.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killSurvivors);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killSurvivors();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Remembers a temp dir for removal at exit even before any process runs in it. */
export function trackDir(dir: string): () => void {
  installExitHandlers();
  const t: Tracked = { dir };
  tracked.add(t);
  return () => tracked.delete(t);
}

/** Starts mariadbd with `args`; the process is killed at exit if still running. */
export function spawnMariadbd(args: readonly string[]): ChildProcess {
  installExitHandlers();
  const child = spawn(MARIADBD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume(); // --log-error takes the real log; never let a full pipe block the server
  child.on('error', () => {}); // reported through exit / readiness
  const t: Tracked = { child };
  tracked.add(t);
  child.once('exit', () => tracked.delete(t));
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` to the child by PID and waits for it to exit (SIGKILL after `graceMs`). */
export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000): Promise<void> {
  if (exited(child) || child.pid === undefined) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, signal);
  } catch {
    /* already gone */
  }
  const timer = setTimeout(() => {
    if (!exited(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, graceMs);
  await done;
  clearTimeout(timer);
}

/** Polls an admin login until it works, the process dies, or `timeoutMs` passes. */
export async function waitReady(child: ChildProcess, port: number, errLog: string, timeoutMs = 60_000): Promise<Connection> {
  const until = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < until) {
    if (exited(child)) throw new Error(`mariadbd exited (${child.exitCode ?? child.signalCode}) during startup:\n${tail(errLog)}`);
    try {
      return await createConnection({ host: '127.0.0.1', port, user: ADMIN.user, password: ADMIN.password, connectTimeout: 2000 });
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mariadbd on port ${port} not ready after ${timeoutMs} ms (last: ${last}):\n${tail(errLog)}`);
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** An admin connection that reconnects once if the server dropped it. */
export class AdminSql {
  private conn: Connection | undefined;
  constructor(
    private readonly port: number,
    conn?: Connection,
  ) {
    this.conn = conn;
    this.conn?.on('error', () => (this.conn = undefined));
  }
  async query(sql: string): Promise<RowDataPacket[]> {
    if (!this.conn) {
      this.conn = await createConnection({ host: '127.0.0.1', port: this.port, user: ADMIN.user, password: ADMIN.password, connectTimeout: 2000 });
      this.conn.on('error', () => (this.conn = undefined));
    }
    const [rows] = await this.conn.query<RowDataPacket[]>(sql);
    return rows;
  }
  /** A global status counter, e.g. Aborted_connects. */
  async status(name: string): Promise<number> {
    const rows = await this.query(`SHOW GLOBAL STATUS LIKE '${name}'`);
    return Number(rows[0]?.Value ?? NaN);
  }
  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c) await c.end().catch(() => c.destroy());
  }
}

export interface MariaDb {
  host: '127.0.0.1';
  port: number;
  pid: number;
  dir: string;
  /** Admin SQL on a kept-open connection (so it does not move the connection counters it reads). */
  admin: AdminSql;
  /** Kills the server (default SIGKILL) and waits for the exit; the dir stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the server if running, waits, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface MariaDbOptions {
  users?: readonly DbUser[];
  extraArgs?: readonly string[];
}

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mariadb-'));
  const untrackDir = trackDir(dir);
  let child: ChildProcess | undefined;
  let admin: AdminSql | undefined;
  const stop = async () => {
    await admin?.close();
    if (child) await killAndWait(child);
    rmSync(dir, { recursive: true, force: true });
    untrackDir();
  };
  try {
    chmodSync(dir, 0o755);
    const datadir = join(dir, 'data');
    await installDb(datadir);
    const initFile = join(dir, 'init.sql');
    writeFileSync(initFile, usersSql(options.users ?? []));
    const port = await freePort();
    child = spawnMariadbd([...baseArgs(dir, datadir, port, 'mariadb'), `--init-file=${initFile}`, ...(options.extraArgs ?? [])]);
    const conn = await waitReady(child, port, join(dir, 'mariadb.err'));
    admin = new AdminSql(port, conn);
    const running = child;
    return {
      host: '127.0.0.1',
      port,
      pid: running.pid!,
      dir,
      admin,
      kill: async (signal = 'SIGKILL') => {
        await admin?.close();
        await killAndWait(running, signal);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
