/**
 * A MariaDB server inside a lab namespace: its datadir under lab.dir, mariadbd
 * started with lab.spawn() (so lab.destroy() stops it), listening on the
 * node's lab address, port 3306, for users that may log in from the lab
 * segment. The test reaches it as root over its Unix socket, which a
 * network namespace does not hide.
 *
 * Invariants: kill() and start() can be repeated (a server that fails and
 * comes back keeps its datadir); every wait is bounded.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { baseArgs, installDb, MARIADBD, tail } from '../helpers/mariadb.js';
import type { Lab } from './lab.js';

export const DB_PORT = 3306;

export interface LabDbUser {
  user: string;
  password: string;
  grants: string;
}

export class LabMariaDb {
  private child: ChildProcess | undefined;
  readonly dir: string;
  readonly socket: string;
  readonly errLog: string;

  private constructor(
    private readonly lab: Lab,
    readonly node: string,
  ) {
    this.dir = join(lab.dir, `mariadb-${node}`);
    this.socket = join(this.dir, 'mariadb.sock');
    this.errLog = join(this.dir, 'mariadb.err');
  }

  static async create(lab: Lab, node: string, users: readonly LabDbUser[], setupSql = ''): Promise<LabMariaDb> {
    const db = new LabMariaDb(lab, node);
    mkdirSync(db.dir, { recursive: true });
    await installDb(join(db.dir, 'data'));
    const init = [
      ...users.flatMap((u) => [`CREATE USER IF NOT EXISTS '${u.user}'@'%' IDENTIFIED BY '${u.password}';`, `GRANT ${u.grants} ON *.* TO '${u.user}'@'%';`]),
      setupSql,
    ].join('\n');
    writeFileSync(join(db.dir, 'init.sql'), init + '\n');
    await db.start();
    return db;
  }

  get address(): string {
    return `${this.lab.node(this.node).addr}:${DB_PORT}`;
  }

  /** Starts mariadbd (again) and waits until root can log in over the socket. */
  async start(timeoutMs = 60_000): Promise<void> {
    const args = [
      ...baseArgs(this.dir, join(this.dir, 'data'), DB_PORT, 'mariadb'),
      // Later options win: listen on the lab address rather than loopback.
      `--bind-address=${this.lab.node(this.node).addr}`,
      `--init-file=${join(this.dir, 'init.sql')}`,
    ];
    this.child = this.lab.spawn(this.node, [MARIADBD, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`mariadbd on ${this.node} exited during startup:\n${tail(this.errLog)}`);
      try {
        const c = await this.connect();
        await c.end();
        return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`mariadbd on ${this.node} not ready in ${timeoutMs} ms (${last}):\n${tail(this.errLog)}`);
  }

  /** SIGKILL to the server's process group; resolves once it exited. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await exited;
  }

  connect(): Promise<Connection> {
    return createConnection({ socketPath: this.socket, user: 'root', connectTimeout: 2000 });
  }

  async query(sql: string): Promise<RowDataPacket[]> {
    const c = await this.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>(sql);
      return rows;
    } finally {
      await c.end().catch(() => c.destroy());
    }
  }
}
