/**
 * A 3-node Galera cluster inside lab namespaces: one node per namespace, on
 * its lab address, with the standard ports (3306 clients, 4567 group
 * communication, 4568 IST, 4444 rsync SST), so the nodes talk over the lab
 * bridge like hosts on a LAN. The test reaches each as root over its Unix
 * socket (a network namespace does not hide it).
 *
 * How it starts: the first node of `order` bootstraps a new cluster (fresh
 * datadir, users and schema from --init-file), the others join with empty
 * datadirs and receive everything by rsync SST. kill() and restart() work
 * on one node; a restarted node rejoins (IST or SST), never bootstraps.
 *
 * Invariants: every mariadbd is started with lab.spawn(), so lab.destroy()
 * stops it; every wait is bounded.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { isRoot } from '@baton/core';
import { GALERA_PROVIDER } from '../helpers/galera.js';
import { baseArgs, installDb, MARIADBD, tail } from '../helpers/mariadb.js';
import type { Lab } from './lab.js';
import type { LabDbUser } from './mariadb-node.js';

/** rsync daemon's unprivileged user when started by root (Debian nobody:nogroup). */
const NOBODY = 65534;

export class LabGaleraNode {
  child: ChildProcess | undefined;
  readonly dir: string;

  constructor(
    private readonly lab: Lab,
    readonly name: string,
    private readonly clusterAddress: string,
  ) {
    this.dir = join(lab.dir, `galera-${name}`);
  }

  get addr(): string {
    return this.lab.node(this.name).addr;
  }
  get address(): string {
    return `${this.addr}:3306`;
  }
  get socket(): string {
    return join(this.dir, `${this.name}.sock`);
  }
  get errLog(): string {
    return join(this.dir, `${this.name}.err`);
  }

  args(extra: readonly string[] = []): string[] {
    const a = this.addr;
    return [
      ...baseArgs(this.dir, join(this.dir, 'data'), 3306, this.name),
      `--bind-address=${a}`,
      '--binlog-format=ROW',
      '--default-storage-engine=InnoDB',
      '--innodb-autoinc-lock-mode=2',
      '--wsrep-on=ON',
      `--wsrep-provider=${GALERA_PROVIDER}`,
      '--wsrep-cluster-name=baton-lab',
      `--wsrep-cluster-address=${this.clusterAddress}`,
      `--wsrep-node-name=${this.name}`,
      `--wsrep-node-address=${a}:4567`,
      `--wsrep-node-incoming-address=${a}:3306`,
      `--wsrep-provider-options=gmcast.listen_addr=tcp://${a}:4567;ist.recv_addr=${a}:4568;gcache.size=16M;pc.recovery=false`,
      '--wsrep-sst-method=rsync',
      `--wsrep-sst-receive-address=${a}:4444`,
      ...extra,
    ];
  }

  spawn(extra: readonly string[] = []): void {
    this.child = this.lab.spawn(this.name, [MARIADBD, ...this.args(extra)], { stdio: ['ignore', 'ignore', 'ignore'] });
  }

  async query(sql: string): Promise<RowDataPacket[]> {
    const c = await createConnection({ socketPath: this.socket, user: 'root', connectTimeout: 2000 });
    try {
      const [rows] = await c.query<RowDataPacket[]>(sql);
      return rows;
    } finally {
      await c.end().catch(() => c.destroy());
    }
  }

  async status(name: string): Promise<number> {
    const rows = await this.query(`SHOW GLOBAL STATUS LIKE '${name}'`);
    return Number(rows[0]?.Value ?? NaN);
  }

  /** Waits until the node is Synced in a cluster of `size`. */
  async waitSynced(size: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      const c = this.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) throw new Error(`mariadbd on ${this.name} exited:\n${tail(this.errLog)}`);
      try {
        const [state, clusterSize] = [await this.status('wsrep_local_state'), await this.status('wsrep_cluster_size')];
        last = `state ${state}, size ${clusterSize}`;
        if (state === 4 && clusterSize === size) return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`Galera node ${this.name} not Synced in ${timeoutMs} ms (${last}):\n${tail(this.errLog)}`);
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

  /** Starts a killed node again; it rejoins and is Synced in a cluster of 3. */
  async restart(timeoutMs = 120_000): Promise<void> {
    // A node killed mid-flight may rejoin by SST, whose rsync receiver runs as nobody.
    if (isRoot()) execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, join(this.dir, 'data')]);
    this.spawn();
    await this.waitSynced(3, timeoutMs);
  }
}

/** Starts g-nodes in `order` (the first bootstraps); resolves once all three are Synced. */
export async function startLabGalera(lab: Lab, order: readonly string[], users: readonly LabDbUser[], setupSql: string, timeoutMs = 180_000): Promise<LabGaleraNode[]> {
  const clusterAddress = `gcomm://${order.map((n) => `${lab.node(n).addr}:4567`).join(',')}`;
  const nodes = order.map((n) => new LabGaleraNode(lab, n, clusterAddress));
  for (const n of nodes) {
    mkdirSync(n.dir, { recursive: true, mode: 0o755 });
    execFileSync('chmod', ['755', n.dir]); // the joiners' rsync runs as nobody and must reach its datadir
  }
  const first = nodes[0]!;
  await installDb(join(first.dir, 'data'));
  const init = [
    ...users.flatMap((u) => [`CREATE USER IF NOT EXISTS '${u.user}'@'%' IDENTIFIED BY '${u.password}';`, `GRANT ${u.grants} ON *.* TO '${u.user}'@'%';`]),
    setupSql,
  ].join('\n');
  writeFileSync(join(first.dir, 'init.sql'), init + '\n');
  first.spawn(['--wsrep-new-cluster', `--init-file=${join(first.dir, 'init.sql')}`]);
  await first.waitSynced(1, timeoutMs);
  // One joiner at a time: each SST from the bootstrapped node, on 2 busy cores.
  for (const n of nodes.slice(1)) {
    const data = join(n.dir, 'data');
    mkdirSync(data);
    if (isRoot()) chownSync(data, NOBODY, NOBODY);
    n.spawn();
    await n.waitSynced(nodes.indexOf(n) + 1, timeoutMs);
  }
  return nodes;
}
