/**
 * The cluster subsystem over real UDP on 127.0.0.1, with real control
 * planes: a starting node takes its peer's decision instead of its own
 * choice, a message with a bad MAC changes nothing and is counted, and a
 * lone node's restart keeps the decision from its state file.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLineLogger } from '@baton/core';
import { ControlPlane } from '../src/control-plane.js';
import { ClusterSubsystem } from '../src/cluster/subsystem.js';
import { encodeMessage, newNonce } from '../src/cluster/codec.js';
import { writeStateFile } from '../src/cluster/state-file.js';
import type { BatonConfig, ServiceConfig } from '../src/config/types.js';
import type { InstanceSnapshot } from '../src/vrrp/instance.js';

const SECRET_ENV = 'BATON_TEST_CLUSTER_SECRET';
process.env[SECRET_ENV] = 'test secret for the cluster';

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const writeService: ServiceConfig = {
  name: 'write',
  listen: { host: '127.0.0.1', port: 1 },
  balance: 'writer',
  connectTimeoutMs: 1000,
  idleTimeoutMs: 0,
  retries: 0,
  queueTimeoutMs: 5000,
  logSessions: false,
  writer: { pick: 'first', failback: false, onChange: 'close' },
  servers: [
    { name: 'db1', address: { host: '127.0.0.1', port: 2 }, weight: 1, backup: false },
    { name: 'db2', address: { host: '127.0.0.1', port: 3 }, weight: 1, backup: false },
  ],
};

function config(node: string, listen: number, peer: number | number[], priority: number, stateFile: string, startupWaitMs = 1000): BatonConfig {
  return {
    node,
    admin: { listen: { host: '127.0.0.1', port: 9 } },
    workers: 1,
    engine: 'js',
    shutdownTimeoutMs: 1000,
    logLevel: 'info',
    vrrpSyncGroups: [],
    vrrp: [
      {
        name: 'VI_1', interface: 'eth0', routerId: 1, priority, version: 3, advertIntervalMs: 1000, preempt: true, preemptDelayMs: 0,
        unicastPeers: [], virtualIps: [{ address: '10.0.0.1', prefixLength: 24 }], garp: { repeat: 0, intervalMs: 0, refreshMs: 0, delayMs: 0 },
        track: { interfaces: [], services: ['write'], scripts: [] }, notify: [], notifyOn: { master: [], backup: [], fault: [], stop: [] }, v3ChecksumAsV2: false,
      },
    ],
    services: [writeService],
    cluster: { listen: { host: '127.0.0.1', port: listen }, peers: [peer].flat().map((port) => ({ host: '127.0.0.1', port })), secretEnv: SECRET_ENV, startupWaitMs },
    stateFile,
  };
}

interface Node {
  control: ControlPlane;
  cluster: ClusterSubsystem;
  vrrpState: InstanceSnapshot['state'];
  lines: string[];
  stop(): Promise<void>;
}

async function startNode(cfg: BatonConfig, vrrpState: InstanceSnapshot['state']): Promise<Node> {
  const lines: string[] = [];
  const logger = createLineLogger({ level: 'debug', write: (l) => lines.push(l) });
  const control = new ControlPlane({ setServerState: () => {}, setWriter: () => {} });
  const node: Node = { control, cluster: undefined as never, vrrpState, lines, stop: async () => node.cluster.stop() };
  const snapshot = (): InstanceSnapshot[] => [
    { name: 'VI_1', state: node.vrrpState, priority: cfg.vrrp[0]!.priority, effectivePriority: cfg.vrrp[0]!.priority, master: null, virtualIps: [], faults: [], stats: {} as never },
  ];
  node.cluster = new ClusterSubsystem({ logger, control, vrrp: snapshot });
  node.cluster.configure(cfg);
  control.setConfig(cfg);
  await node.cluster.start(cfg);
  return node;
}

/** A temp dir and `count` free UDP ports; the nodes started through it are stopped, and the dir removed, after the test. */
async function lab(t: TestContext, count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freeUdpPort());
  const nodes: Node[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (cfg: BatonConfig, state: InstanceSnapshot['state']): Promise<Node> => {
    const n = await startNode(cfg, state);
    nodes.push(n);
    return n;
  };
  return { dir, ports: ports as [number, number, number], start };
}

async function until(what: string, fn: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a starting node adopts its peer\'s writer, ignores a forged message, and keeps the decision across a lone restart', async (t) => {
  const { dir, ports: [pa, pb], start } = await lab(t, 2);

  // lb1, the VRRP master, starts alone: it decides db1, then db1 fails and it decides db2.
  const a = await start(config('lb1', pa, pb, 102, join(dir, 'a.json'), 200), 'master');
  assert.ok(a.lines.some((l) => l.includes('no peer answered, deciding alone')), a.lines.join('\n'));
  assert.equal(a.control.writer('write'), 'db1');
  a.control.setHealth('write', 'db1', false, 'down');
  assert.equal(a.control.writer('write'), 'db2');
  a.control.setHealth('write', 'db1', true, 'check passed');
  assert.equal(a.control.writer('write'), 'db2', 'failback false keeps db2');

  // lb2 starts (the backup's restart): both servers are up to it, and on its
  // own it would name db1; it asks lb1 and names db2.
  const b = await start(config('lb2', pb, pa, 101, join(dir, 'b.json')), 'backup');
  assert.ok(b.lines.some((l) => l.includes('writers from peers')), b.lines.join('\n'));
  assert.equal(b.control.writer('write'), 'db2');
  assert.equal(b.cluster.decision('write')?.epoch, 2);
  assert.equal(b.cluster.decision('write')?.decidedBy, 'lb1');

  // A forged decision (wrong secret, higher epoch) is dropped and counted.
  const forged = encodeMessage('not the secret', {
    node: 'lb1', sentAt: Date.now(), nonce: newNonce(), kind: 'state',
    decisions: [{ service: 'write', writer: 'db1', epoch: 99, decidedBy: 'lb1', reason: 'forged', priority: 255 }],
  });
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.send(forged, pb, '127.0.0.1', () => r()));
  s.close();
  await until('the forged message counted', () => b.cluster.counters.dropped['bad-mac'] === 1);
  assert.equal(b.control.writer('write'), 'db2');
  assert.equal(b.cluster.decision('write')?.epoch, 2);

  // The VIP moves to lb2: it becomes the decider and keeps db2 (no new epoch).
  await a.stop();
  b.vrrpState = 'master';
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(b.control.writer('write'), 'db2');
  assert.equal(b.cluster.decision('write')?.epoch, 2);

  // lb2 restarts alone (lb1 is down): the state file keeps db2.
  const saved = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')) as { decisions: Array<{ writer: string; epoch: number }> };
  assert.deepEqual([saved.decisions[0]?.writer, saved.decisions[0]?.epoch], ['db2', 2]);
  await b.stop();
  const b2 = await start(config('lb2', pb, pa, 101, join(dir, 'b.json'), 200), 'master');
  assert.equal(b2.control.writer('write'), 'db2');
});

test('a reload moves cluster.listen (bound in prepare, swapped in commit); an unset secret rejects the reload and changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-cluster-'));
  const [pa, pb, pa2] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const a = await startNode(config('lb1', pa, pb, 102, join(dir, 'a.json'), 0), 'master');
  t.after(async () => {
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const forge = async (port: number) => {
    const s = dgram.createSocket('udp4');
    const data = encodeMessage('wrong', { node: 'x', sentAt: Date.now(), nonce: newNonce(), kind: 'state', decisions: [] });
    await new Promise<void>((r) => s.send(data, port, '127.0.0.1', () => r()));
    s.close();
  };

  const bad = { ...config('lb1', pa2, pb, 102, join(dir, 'a.json'), 0), cluster: { ...config('lb1', pa2, pb, 102, '', 0).cluster!, secretEnv: 'BATON_TEST_UNSET_SECRET' } };
  await assert.rejects(a.cluster.prepare(bad), /BATON_TEST_UNSET_SECRET is not set/);
  await forge(pa);
  await until('the old socket still answers', () => a.cluster.counters.dropped['bad-mac'] === 1);

  const next = config('lb1', pa2, pb, 102, join(dir, 'a.json'), 0);
  const prepared = await a.cluster.prepare(next);
  await forge(pa);
  await until('the old socket still answers before the commit', () => a.cluster.counters.dropped['bad-mac'] === 2);
  a.cluster.configure(next);
  await prepared.commit();
  await forge(pa2);
  await until('the new socket answers after the commit', () => a.cluster.counters.dropped['bad-mac'] === 3);
  // The old port is free again.
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(pa, '127.0.0.1', () => resolve());
  });
  s.close();
});

test('of three nodes, one that hears no majority adopts the known decision, decides nothing and refuses a switch; with a majority it decides again', async (t) => {
  const { dir, ports: [pa, pb, pc], start } = await lab(t, 3);

  // lb3 is cut off from lb1 and lb2 (here: they are not running), so VRRP makes it master.
  // The cluster had agreed on db2 (epoch 2, decided by lb1), and lb3 kept that in its state file.
  writeStateFile(join(dir, 'c.json'), 'lb3', [{ service: 'write', writer: 'db2', epoch: 2, decidedBy: 'lb1', reason: 'db1 down', priority: 102 }]);
  const c = await start(config('lb3', pc, [pa, pb], 100, join(dir, 'c.json'), 200), 'master');
  assert.ok(c.lines.some((l) => l.includes('no majority of the cluster answered')), c.lines.join('\n'));
  assert.equal(c.control.writer('write'), 'db2', 'the known decision is adopted while its writer is up');

  // Its writer fails by lb3's checks: a node of two would decide db1 (epoch 3), and that decision
  // would win everywhere when the partition heals. Without a majority lb3 names none and decides nothing.
  c.control.setHealth('write', 'db2', false, 'down');
  assert.equal(c.control.writer('write'), null);
  assert.equal(c.cluster.decision('write')?.epoch, 2);
  assert.match(c.cluster.switchRefusal('write') ?? '', /hears 1 of the 3 cluster nodes; a writer switch needs a majority/);
  c.control.setHealth('write', 'db2', true, 'check passed');
  assert.equal(c.control.writer('write'), 'db2');

  // lb1 is heard: two of three, a majority. lb3, still the VRRP master, decides again.
  const a = await start(config('lb1', pa, [pb, pc], 102, join(dir, 'a.json'), 300), 'backup');
  await until('lb3 hears a majority', () => c.lines.some((l) => l.includes('cluster majority heard again')));
  assert.equal(c.cluster.switchRefusal('write'), undefined);
  assert.equal(a.control.writer('write'), 'db2', 'lb1 adopts the decision lb3 kept');
  c.control.setHealth('write', 'db2', false, 'down');
  // The new decision waits for a majority heard since it became due: lb1 answers lb3's query at once.
  assert.equal(c.control.writer('write'), null, 'nothing named before the majority answered');
  await until('lb3 decides db1 once lb1 answered', () => c.control.writer('write') === 'db1', 2000);
  assert.deepEqual([c.cluster.decision('write')?.epoch, c.cluster.decision('write')?.decidedBy], [3, 'lb3']);
  await until('lb1 adopts the new decision', () => a.control.writer('write') === 'db1');

  // lb2 joins as well; then lb1 and lb2 are cut off together and lb3's writer fails a moment
  // later. lb3 still counts them as heard (their last messages are fresh), but nobody answers
  // its query: it decides nothing, so no decision of the cut-off node outranks the others' later.
  const b = await start(config('lb2', pb, [pa, pc], 101, join(dir, 'b.json'), 300), 'backup');
  await until('lb2 adopts', () => b.control.writer('write') === 'db1');
  await a.stop();
  await b.stop();
  c.control.setHealth('write', 'db2', true, 'check passed');
  c.control.setHealth('write', 'db1', false, 'down');
  assert.equal(c.control.writer('write'), null);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(c.control.writer('write'), null);
  assert.equal(c.cluster.decision('write')?.epoch, 3, 'no decision without a majority answering');
  assert.match(c.cluster.writerViews()[0]?.why ?? '', /a new decision is due \(db1 down\), waiting for a majority of the 3 nodes to answer \(1 of 3 nodes since/);
  await until('lb3 loses the majority', () => c.lines.some((l) => l.includes('cluster majority lost')), 8000);
  assert.equal(c.cluster.decision('write')?.epoch, 3, 'no decision without a majority');
  assert.match(c.cluster.switchRefusal('write') ?? '', /hears 1 of the 3/);
});

test('of two nodes, the master decides once its peer answered; cut off a moment ago it waits, and decides alone only after 5 s of silence', async (t) => {
  const { dir, ports: [pa, pb], start } = await lab(t, 2);
  const a = await start(config('lb1', pa, pb, 102, join(dir, 'a.json'), 200), 'master');
  const b = await start(config('lb2', pb, pa, 101, join(dir, 'b.json'), 1000), 'backup');
  await until('both name db1', () => a.control.writer('write') === 'db1' && b.control.writer('write') === 'db1');
  const epoch = a.cluster.decision('write')!.epoch;

  // The writer fails: lb2 answers lb1's query within a round trip.
  const failedAt = Date.now();
  a.control.setHealth('write', 'db1', false, 'down');
  await until('lb1 decides db2', () => a.control.writer('write') === 'db2', 1000);
  t.diagnostic(`decided ${Date.now() - failedAt} ms after the writer failed`);
  assert.equal(a.cluster.decision('write')!.epoch, epoch + 1);
  await until('lb2 adopts db2', () => b.control.writer('write') === 'db2');

  // lb2 is cut off and lb1's writer fails a moment later: lb1 waits for an answer that does not come.
  await b.stop();
  a.control.setHealth('write', 'db1', true, 'check passed');
  a.control.setHealth('write', 'db2', false, 'down');
  const cutAt = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(a.control.writer('write'), null, 'no decision while the peer was heard a moment ago');
  assert.equal(a.cluster.decision('write')!.epoch, epoch + 1);
  assert.match(a.cluster.writerViews()[0]?.why ?? '', /waiting for the peer to answer/);
  // After 5 s without a word from lb2, lb1 is a lone survivor and decides.
  await until('lb1 decides alone', () => a.control.writer('write') === 'db1', 7000);
  const aloneMs = Date.now() - cutAt;
  t.diagnostic(`decided alone ${aloneMs} ms after the peer went silent`);
  assert.ok(aloneMs >= 4000, `decided alone after ${aloneMs} ms`);
  assert.equal(a.cluster.decision('write')!.epoch, epoch + 2);
});
