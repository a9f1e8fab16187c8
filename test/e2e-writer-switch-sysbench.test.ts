/**
 * `baton writer switch` under a real MySQL load: sysbench oltp_write_only
 * runs through the write port of one of two Baton nodes (a `cluster:` on
 * 127.0.0.1) in front of two MariaDB servers, and the writer is switched
 * from db1 to db2 with --hold while it runs.
 *
 * The load is back-to-back one-second sysbench runs (4 threads each), so
 * that sessions end and new clients arrive all the time, the way
 * application connections come and go. (One long run would keep its
 * connections for ever, and Debian's sysbench 1.0.20 with libmariadb
 * crashes when it reconnects after a closed connection, upstream issue
 * akopytov/sysbench#527; the forced close of stragglers is covered by
 * e2e-writer-switch.)
 *
 * What must hold:
 * - every sysbench run succeeds with no error: the runs that start during
 *   the switch are held (a pause), then served by db2, never refused;
 * - no sample of the node's sessions shows both writers with sessions at
 *   once, and none shows a session on db1 after --drain;
 * - MariaDB agrees: no sysbench connection is left on db1;
 * - the other node names db2 with the same epoch, decided by this node,
 *   reason "switch".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { requireCapability } from '@baton/core';
import { startBaton, cliPath, type BatonProcess } from './helpers/baton.js';
import { startMariaDb, mariadbCapability, type MariaDb } from './helpers/mariadb.js';
import { api } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';
import { sleep } from './helpers/backends.js';

const dbCap = mariadbCapability();
const hasSysbench = spawnSync('sysbench', ['--version']).status === 0;
const SB = { user: 'sb', password: 'sb-pw', grants: 'ALL' };
const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
const THREADS = 4;
const DRAIN_MS = 5000;
const HOLD_MS = 5000;

function sysbench(port: number, command: 'prepare' | 'run', extra: string[] = []): ReturnType<typeof spawn> {
  return spawn('sysbench', [
    'oltp_write_only', `--mysql-host=127.0.0.1`, `--mysql-port=${port}`, `--mysql-user=${SB.user}`, `--mysql-password=${SB.password}`,
    '--mysql-db=sbtest', '--tables=1', '--table-size=10000', '--rand-type=uniform', ...extra, command,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(child: ReturnType<typeof spawn>): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => child.on('close', (code, signal) => r({ code, out: out + (signal ? `\n(killed by ${signal})` : '') })));
}

function nodeYaml(node: string, writePort: number, adminPort: number, listen: number, peer: number, stateFile: string, dbs: MariaDb[]): string {
  return `node: ${node}
workers: 1
shutdown_timeout: 1s
admin: { listen: 127.0.0.1:${adminPort} }
state_file: ${stateFile}
cluster:
  listen: 127.0.0.1:${listen}
  peers: [127.0.0.1:${peer}]
  secret_env: BATON_CLUSTER_SECRET
  startup_wait: 500ms
services:
  - name: write
    listen: 127.0.0.1:${writePort}
    balance: writer
    writer: { pick: first, failback: false, on_change: close }
    connect_timeout: 1s
    retries: 0
    health: { check: mysql, interval: 300ms, timeout: 250ms, rise: 2, fall: 2, user: ${HCHECK.user}, password_env: HCHECK_PASSWORD }
    servers:
${dbs.map((d, i) => `      - { name: db${i + 1}, address: 127.0.0.1:${d.port} }`).join('\n')}
`;
}

test('writer switch with --hold under sysbench: no refused client, never sessions on both writers, none on the old one after --drain', { timeout: 180_000 }, async (t) => {
  if (!requireCapability(t, dbCap.ok, dbCap.reason)) return;
  if (!requireCapability(t, hasSysbench, 'sysbench not installed; run scripts/install-test-deps.sh')) return;
  const dbs: MariaDb[] = [];
  const nodes: BatonProcess[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    for (const d of dbs) await d.stop();
  });
  for (let i = 0; i < 2; i++) dbs.push(await startMariaDb({ users: [HCHECK, SB] }));
  for (const d of dbs) {
    await d.admin.query('CREATE DATABASE sbtest');
    const prep = await collect(sysbench(d.port, 'prepare'));
    assert.equal(prep.code, 0, prep.out);
  }
  const [w1, w2, a1, a2, c1, c2] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const env = { BATON_CLUSTER_SECRET: 'e2e secret', HCHECK_PASSWORD: HCHECK.password };
  const dir = dbs[0]!.dir;
  nodes.push(await startBaton(nodeYaml('lb1', w1, a1, c1, c2, `${dir}/lb1.json`, dbs), { env }));
  nodes.push(await startBaton(nodeYaml('lb2', w2, a2, c2, c1, `${dir}/lb2.json`, dbs), { env }));
  const [lb1, lb2] = nodes as [BatonProcess, BatonProcess];
  const service = async (b: BatonProcess) => (await api(b.adminUrl, '/api/status')).json?.services?.find((s: { name: string }) => s.name === 'write');
  for (let i = 0; i < 100 && !((await service(lb1))?.writer === 'db1' && (await service(lb2))?.writer === 'db1'); i++) await sleep(100);
  assert.equal((await service(lb1))?.writer, 'db1');
  assert.equal((await service(lb2))?.writer, 'db1');

  // Sessions per writer on lb1, every 50 ms, for the whole run.
  const samples: Array<{ at: number; db1: number; db2: number }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await service(lb1);
      const active = (n: string) => s?.servers?.find((x: { name: string }) => x.name === n)?.active ?? 0;
      samples.push({ at: Date.now(), db1: active('db1'), db2: active('db2') });
      await sleep(50);
    }
  })();

  const runs: Array<{ start: number; ms: number; code: number | null; out: string }> = [];
  let loading = true;
  // Two loops half a second apart: some run always has sessions open, and new ones keep arriving.
  const loop = async (delayMs: number) => {
    await sleep(delayMs);
    while (loading) {
      const start = Date.now();
      const r = await collect(sysbench(w1, 'run', [`--threads=${THREADS / 2}`, '--time=1', '--mysql-ignore-errors=none']));
      runs.push({ start, ms: Date.now() - start, ...r });
    }
  };
  const load = Promise.all([loop(0), loop(500)]);
  await sleep(3000);
  const before = samples.filter((s) => s.db1 > 0).length;
  assert.ok(before > 0, 'sysbench has sessions on db1 before the switch');
  const switchAt = Date.now();
  // Not spawnSync: the load and the sampler run on this event loop.
  const cliRun = await collect(
    spawn(process.execPath, [cliPath, 'writer', 'switch', 'write', '--to', 'db2', '--drain', `${DRAIN_MS}ms`, '--hold', `${HOLD_MS}ms`, '--admin', lb1.adminUrl], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const cli = { status: cliRun.code, stdout: cliRun.out, stderr: '' };
  t.diagnostic(cli.stdout + cli.stderr);
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /write: writer db2 \(\d+ held client\(s\) released, \d+ session\(s\) on db1 closed/);
  await sleep(3000);
  loading = false;
  await load;
  sampling = false;
  await sampler;
  t.diagnostic(runs.map((r) => `run at +${r.start - switchAt} ms: ${r.ms} ms, exit ${r.code}, ${/transactions:\s+(\d+)/.exec(r.out)?.[1] ?? '?'} trx, errors ${/ignored errors:\s+(\d+)/.exec(r.out)?.[1] ?? '?'}`).join('\n'));
  t.diagnostic(lb1.logs.filter((l) => /writer switch|writer changed|writer decided/.test(l)).join('\n'));
  t.diagnostic(samples.filter((x) => Math.abs(x.at - switchAt) < 2000).map((x) => `${x.at - switchAt}: ${x.db1}/${x.db2}`).join(' '));
  const both = samples.filter((s) => s.db1 > 0 && s.db2 > 0);
  assert.deepEqual(both, [], 'sessions on both writers at once');
  assert.ok(runs.length >= 10, `too few sysbench runs: ${runs.length}`);
  for (const r of runs) {
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /FATAL|error 20\d\d/i, r.out);
    assert.match(r.out, /ignored errors:\s+0 /, r.out);
  }
  const across = runs.filter((r) => r.start < switchAt + DRAIN_MS && r.start + r.ms > switchAt);
  assert.ok(across.length > 0, 'a sysbench run overlapped the switch');
  assert.match(cli.stdout, /0 session\(s\) on db1 closed/, 'sessions ended on their own within --drain');
  assert.ok(Number(/(\d+) held client\(s\) released/.exec(cli.stdout)?.[1]) > 0, 'clients were held during the switch');

  const late = samples.filter((s) => s.at > switchAt + DRAIN_MS + 300 && s.db1 > 0);
  assert.deepEqual(late, [], 'sessions on db1 after --drain');
  assert.ok(samples.some((s) => s.db2 > 0), 'sysbench went on on db2');
  const onDb1 = await dbs[0]!.admin.query(`SELECT COUNT(*) AS n FROM information_schema.processlist WHERE user = '${SB.user}'`);
  assert.equal(Number(onDb1[0]!.n), 0, 'MariaDB: sysbench connections left on db1');

  // Every node names db2, by the same decision.
  const d1 = (await service(lb1))?.decision;
  const d2 = (await service(lb2))?.decision;
  assert.equal((await service(lb2))?.writer, 'db2');
  assert.deepEqual([d1?.epoch, d1?.decided_by, d1?.reason], [d2?.epoch, 'lb1', 'switch']);
  assert.deepEqual([d2?.decided_by, d2?.reason], ['lb1', 'switch']);
});
