/**
 * A throwaway 3-node Galera cluster on 127.0.0.1 for tests: MariaDB with
 * galera-4 (/usr/lib/galera/libgalera_smm.so), each node with its own client,
 * group-communication, IST and SST ports, SST by rsync.
 *
 * How it starts (about 10 s on 2 cores): mariadb-install-db for the first node
 * only, bootstrapped with --wsrep-new-cluster and the users from --init-file;
 * the other two start together on empty datadirs and receive everything,
 * users included, by rsync SST.
 *
 * Invariants:
 * - All nodes live under one mkdtemp dir; stop() kills every node by PID,
 *   waits for the exits and removes the dir; the exit handlers of
 *   mariadb.ts kill survivors of a crashed run.
 * - Running as root: the SST script's rsync daemon drops to nobody:nogroup
 *   (rsyncd's default for root), so a joiner's datadir is handed to that
 *   user; mariadbd itself runs with --user=root and can read it all.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot } from '@baton/core';
import { freePorts } from './ports.js';
import {
  AdminSql,
  baseArgs,
  installDb,
  killAndWait,
  mariadbCapability,
  spawnMariadbd,
  tail,
  trackDir,
  usersSql,
  waitReady,
  exited,
  type DbUser,
} from './mariadb.js';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

export function galeraCapability(): { ok: boolean; reason: string } {
  const base = mariadbCapability();
  if (!base.ok) return base;
  if (!existsSync(GALERA_PROVIDER)) return { ok: false, reason: `galera-4 not installed (${GALERA_PROVIDER}); run scripts/install-test-deps.sh` };
  if (!['/usr/bin/rsync', '/bin/rsync'].some((p) => existsSync(p))) return { ok: false, reason: 'rsync not installed (needed for SST)' };
  return { ok: true, reason: '' };
}

/** rsync daemon's unprivileged user when started by root (Debian nobody:nogroup). */
const NOBODY = 65534;

export interface GaleraNode {
  name: string;
  host: '127.0.0.1';
  port: number;
  readonly pid: number;
  readonly admin: AdminSql;
  /** Kills this node (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed node again and waits until it is Synced in a cluster of 3. */
  restart(): Promise<void>;
}

export interface GaleraCluster {
  nodes: GaleraNode[];
  dir: string;
  /** Wall time from the first install to three Synced nodes. */
  startMs: number;
  stop(): Promise<void>;
}

export interface GaleraOptions {
  users?: readonly DbUser[];
  /** Overall startup bound; default 120 s. */
  timeoutMs?: number;
}

interface Spec {
  name: string;
  port: number;
  gcommPort: number;
  istPort: number;
  sstPort: number;
  datadir: string;
}

export async function startGalera(options: GaleraOptions = {}): Promise<GaleraCluster> {
  const t0 = performance.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const dir = mkdtempSync(join(tmpdir(), 'baton-galera-'));
  const untrackDir = trackDir(dir);
  const children: ChildProcess[] = [];
  const admins: AdminSql[] = [];
  const stop = async () => {
    await Promise.all(admins.map((a) => a.close().catch(() => {})));
    await Promise.all(children.map((c) => killAndWait(c, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    untrackDir();
  };
  try {
    chmodSync(dir, 0o755); // the joiners' rsync runs as nobody and must reach its datadir
    const ports = await freePorts(12);
    const specs: Spec[] = [0, 1, 2].map((i) => ({
      name: `node${i + 1}`,
      port: ports[i * 4]!,
      gcommPort: ports[i * 4 + 1]!,
      istPort: ports[i * 4 + 2]!,
      sstPort: ports[i * 4 + 3]!,
      datadir: join(dir, `node${i + 1}`),
    }));
    const clusterAddress = `gcomm://${specs.map((s) => `127.0.0.1:${s.gcommPort}`).join(',')}`;
    const args = (s: Spec) => [
      ...baseArgs(dir, s.datadir, s.port, s.name),
      '--binlog-format=ROW',
      '--default-storage-engine=InnoDB',
      '--innodb-autoinc-lock-mode=2',
      '--wsrep-on=ON',
      `--wsrep-provider=${GALERA_PROVIDER}`,
      '--wsrep-cluster-name=baton-test',
      `--wsrep-cluster-address=${clusterAddress}`,
      `--wsrep-node-name=${s.name}`,
      `--wsrep-node-address=127.0.0.1:${s.gcommPort}`,
      `--wsrep-node-incoming-address=127.0.0.1:${s.port}`,
      `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${s.gcommPort};ist.recv_addr=127.0.0.1:${s.istPort};gcache.size=16M;pc.recovery=false`,
      '--wsrep-sst-method=rsync',
      `--wsrep-sst-receive-address=127.0.0.1:${s.sstPort}`,
    ];

    // Node 1: a fresh datadir, bootstraps a new cluster, creates the users.
    const first = specs[0]!;
    await installDb(first.datadir);
    const initFile = join(dir, 'init.sql');
    writeFileSync(initFile, usersSql(options.users ?? []));
    const c1 = spawnMariadbd([...args(first), '--wsrep-new-cluster', `--init-file=${initFile}`]);
    children.push(c1);
    admins.push(new AdminSql(first.port, await waitReady(c1, first.port, join(dir, `${first.name}.err`), timeoutMs)));
    await waitSynced(admins[0]!, c1, join(dir, `${first.name}.err`), 1, deadlineFrom(t0, timeoutMs));

    // Nodes 2 and 3 together: empty datadirs, everything arrives by SST.
    const joiners = specs.slice(1);
    for (const s of joiners) {
      mkdirSync(s.datadir);
      if (isRoot()) chownSync(s.datadir, NOBODY, NOBODY);
    }
    const jc = joiners.map((s) => spawnMariadbd(args(s)));
    children.push(...jc);
    for (const [i, s] of joiners.entries()) {
      const err = join(dir, `${s.name}.err`);
      const conn = await waitReady(jc[i]!, s.port, err, deadlineFrom(t0, timeoutMs) - performance.now());
      admins.push(new AdminSql(s.port, conn));
    }
    for (const [i, s] of specs.entries()) await waitSynced(admins[i]!, children[i]!, join(dir, `${s.name}.err`), 3, deadlineFrom(t0, timeoutMs));

    const nodes: GaleraNode[] = specs.map((s, i) => ({
      name: s.name,
      host: '127.0.0.1',
      port: s.port,
      get pid() {
        return children[i]!.pid!;
      },
      get admin() {
        return admins[i]!;
      },
      kill: async (signal = 'SIGKILL') => {
        await admins[i]!.close();
        await killAndWait(children[i]!, signal);
      },
      restart: async () => {
        // Rejoins the running cluster (IST from a peer); never bootstraps a new one.
        const err = join(dir, `${s.name}.err`);
        // A node killed mid-flight rejoins by SST, whose rsync receiver runs as nobody.
        if (isRoot()) execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, s.datadir]);
        const child = spawnMariadbd(args(s));
        children[i] = child;
        admins[i] = new AdminSql(s.port, await waitReady(child, s.port, err, timeoutMs));
        await waitSynced(admins[i]!, child, err, 3, performance.now() + timeoutMs);
      },
    }));
    return { nodes, dir, startMs: performance.now() - t0, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function deadlineFrom(t0: number, timeoutMs: number): number {
  return t0 + timeoutMs;
}

/** Waits until the node is Synced (wsrep_local_state 4) in a cluster of `size`. */
async function waitSynced(admin: AdminSql, child: ChildProcess, errLog: string, size: number, deadline: number): Promise<void> {
  let last = '';
  while (performance.now() < deadline) {
    if (exited(child)) throw new Error(`mariadbd exited while joining:\n${tail(errLog)}`);
    try {
      const state = await admin.status('wsrep_local_state');
      const clusterSize = await admin.status('wsrep_cluster_size');
      last = `state ${state}, size ${clusterSize}`;
      if (state === 4 && clusterSize === size) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Galera node not Synced in time (${last}):\n${tail(errLog)}`);
}
