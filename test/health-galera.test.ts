/**
 * The galera check against a real 3-node Galera cluster (one for the whole
 * file): all up with their wsrep_local_index reported; two independent
 * control planes (the daemon's ControlPlane and health subsystem, each with
 * its own checks, the servers in opposite orders so the verdicts arrive in
 * opposite orders) pick the same writer, the node with wsrep_local_index 0,
 * with and without failback; wsrep_desync down/up (and up with donor_ok); a
 * killed node down within the fall window.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability, silentLogger } from '@baton/core';
import { loadConfigText, formatConfigIssue, type BatonConfig } from 'baton/config';
import { ControlPlane } from 'baton/control-plane';
import { HealthSubsystem } from 'baton/health';
import { createGaleraProbe, HealthScheduler, pickGaleraWriter, type CheckTiming, type HealthChange, type ServerHealth } from '@baton/health';
import { galeraCapability, startGalera, type GaleraCluster, type GaleraNode } from './helpers/galera.js';

const cap = galeraCapability();
const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
let cluster: GaleraCluster | undefined;

before(async () => {
  if (!cap.ok) return;
  cluster = await startGalera({ users: [HCHECK] });
});

after(async () => {
  await cluster?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const timing: CheckTiming = { intervalMs: 200, timeoutMs: 1000, rise: 2, fall: 2 };

/** One control plane: a scheduler over the given nodes. */
function plane(nodes: readonly GaleraNode[], opts: { donorOk?: boolean; timing?: CheckTiming } = {}) {
  const changes: Array<HealthChange & { at: number }> = [];
  const scheduler = new HealthScheduler({
    servers: nodes.map((n) => ({
      name: n.name,
      probe: createGaleraProbe({ host: n.host, port: n.port }, { ...HCHECK, donorOk: opts.donorOk }),
      timing: opts.timing ?? timing,
    })),
    onChange: (c) => changes.push({ ...c, at: performance.now() }),
  });
  const writer = () => pickGaleraWriter(scheduler.snapshot().map((h: ServerHealth) => ({ name: h.name, up: h.state === 'up', info: h.info })));
  const state = (name: string) => scheduler.get(name)?.state;
  return { scheduler, changes, writer, state };
}

test('galera: three nodes started', (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  assert.equal(cluster!.nodes.length, 3);
  t.diagnostic(`3-node Galera cluster Synced in ${(cluster!.startMs / 1000).toFixed(1)} s`);
});

test('galera: all nodes up, each wsrep_local_index reported', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const nodes = cluster!.nodes;
  const a = plane(nodes);
  a.scheduler.start();
  try {
    await waitFor('all up', () => nodes.every((n) => a.state(n.name) === 'up'), 10_000);
    const infos = a.scheduler.snapshot().map((h) => ({ name: h.name, ...h.info }));
    t.diagnostic(`wsrep_local_index: ${infos.map((i) => `${i.name}=${i.galeraIndex}`).join(' ')}`);
    assert.deepEqual(infos.map((i) => i.galeraIndex).sort(), [0, 1, 2]);
    assert.ok(infos.every((i) => i.galeraState === 4 && i.clusterSize === 3 && i.readOnly === false && i.desync === false));
  } finally {
    await a.scheduler.stop();
  }
});

const PASSWORD_ENV = 'BATON_TEST_HCHECK_PASSWORD';

/**
 * One Baton node's control plane, as the daemon wires it: a ControlPlane fed
 * by the HealthSubsystem, whose galera checks run against the real cluster.
 */
async function controlPlane(nodes: readonly GaleraNode[], failback: boolean) {
  const text = `
services:
  - name: write
    listen: 127.0.0.1:1
    balance: writer
    writer: { pick: galera-index, failback: ${failback} }
    health: { check: galera, interval: 600ms, timeout: 500ms, rise: 2, fall: 2, user: ${HCHECK.user}, password_env: ${PASSWORD_ENV} }
    servers:
${nodes.map((n) => `      - { name: ${n.name}, address: ${n.host}:${n.port} }`).join('\n')}
`;
  const loaded = loadConfigText(text, 'plane.yaml', { [PASSWORD_ENV]: HCHECK.password });
  if (!loaded.ok) assert.fail(loaded.errors.map(formatConfigIssue).join('\n'));
  const config: BatonConfig = loaded.config;
  const writers: Array<string | null> = [];
  const ups: string[] = [];
  const control = new ControlPlane({ setServerState: () => {}, setWriter: (_svc, server) => writers.push(server) });
  control.subscribe((e) => {
    if (e.server && e.state === 'up') ups.push(e.server);
  });
  control.setConfig(config);
  const health = new HealthSubsystem({ logger: silentLogger, control });
  return { control, health, config, writers, ups };
}

for (const failback of [false, true]) {
  test(`galera: two control planes, verdicts arriving in opposite orders, pick the same writer (wsrep_local_index 0), failback ${failback}`, async (t) => {
    if (!requireCapability(t, cap.ok, cap.reason)) return;
    const nodes = cluster!.nodes;
    process.env[PASSWORD_ENV] = HCHECK.password;
    // Opposite server orders: the staggered first checks reach the nodes in opposite orders.
    const planes = [await controlPlane(nodes, failback), await controlPlane([...nodes].reverse(), failback)];
    await Promise.all(planes.map((p) => p.health.start(p.config)));
    try {
      await waitFor('all up with a writer on both planes', () => planes.every((p) => p.ups.length === nodes.length && p.control.writer('write') !== null), 10_000);
      const indexes = await Promise.all(nodes.map(async (n) => [n.name, await n.admin.status('wsrep_local_index')] as const));
      const lowest = indexes.find(([, i]) => i === 0)![0];
      t.diagnostic(`wsrep_local_index: ${indexes.map(([n, i]) => `${n}=${i}`).join(' ')}; up order ${planes.map((p) => p.ups.join(',')).join(' vs ')}; writers ${planes.map((p) => p.writers.join('>')).join(' vs ')}`);
      assert.notDeepEqual(planes[0]!.ups, planes[1]!.ups, 'the verdicts arrived in different orders');
      for (const p of planes) assert.equal(p.control.writer('write'), lowest);
      if (!failback) {
        // The first pick is the final one: no writer change on the way up.
        for (const p of planes) assert.deepEqual(p.writers, [lowest]);
      }
    } finally {
      await Promise.all(planes.map((p) => p.health.stop()));
    }
  });
}

test('galera: wsrep_desync=ON marks the node down; up with donor_ok; up again after desync OFF', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const nodes = cluster!.nodes;
  const target = nodes[1]!;
  const strict = plane(nodes);
  const donorOk = plane(nodes, { donorOk: true });
  strict.scheduler.start();
  donorOk.scheduler.start();
  try {
    await waitFor('all up', () => nodes.every((n) => strict.state(n.name) === 'up' && donorOk.state(n.name) === 'up'), 10_000);
    const t0 = performance.now();
    await target.admin.query('SET GLOBAL wsrep_desync = ON');
    const down = await waitFor('desynced node down', () => strict.changes.find((c) => c.server === target.name && c.to === 'down' && c.at > t0), 5000);
    t.diagnostic(`desync ON: down after ${(down.at - t0).toFixed(0)} ms, ${down.label}: ${down.detail}`);
    assert.ok(['galera-not-synced', 'galera-desync'].includes(down.label), down.label);
    // Hold a few intervals: with donor_ok the desynced (Donor/Desynced) node stays up.
    await sleep(3 * timing.intervalMs);
    assert.equal(donorOk.state(target.name), 'up');
    assert.equal(donorOk.changes.filter((c) => c.at > t0).length, 0, 'donor_ok plane saw no change');
    assert.equal(donorOk.scheduler.get(target.name)?.info?.galeraState, 2);
    assert.equal(donorOk.scheduler.get(target.name)?.info?.desync, true);
    // The other nodes are untouched.
    assert.ok(nodes.filter((n) => n !== target).every((n) => strict.state(n.name) === 'up'));
    const t1 = performance.now();
    await target.admin.query('SET GLOBAL wsrep_desync = OFF');
    const up = await waitFor('up again', () => strict.changes.find((c) => c.server === target.name && c.to === 'up' && c.at > t1), 5000);
    t.diagnostic(`desync OFF: up after ${(up.at - t1).toFixed(0)} ms`);
  } finally {
    await target.admin.query('SET GLOBAL wsrep_desync = OFF').catch(() => {});
    await Promise.all([strict.scheduler.stop(), donorOk.scheduler.stop()]);
  }
});

// Last: it kills a node.
test('galera: a killed node is down within the fall window; the survivors stay up and re-index', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const nodes = cluster!.nodes;
  const p = plane(nodes);
  p.scheduler.start();
  try {
    await waitFor('all up', () => nodes.every((n) => p.state(n.name) === 'up'), 10_000);
    // Kill the current writer: the interesting case for the writer pick.
    const writer = p.writer()!;
    const victim = nodes.find((n) => n.name === writer)!;
    const survivors = nodes.filter((n) => n !== victim);
    await sleep(100);
    const killedAt = performance.now();
    await victim.kill('SIGKILL');
    const down = await waitFor('victim down', () => p.changes.find((c) => c.server === victim.name && c.to === 'down' && c.at > killedAt), 5000);
    const detectMs = down.at - killedAt;
    const bound = timing.fall * timing.intervalMs + timing.timeoutMs;
    t.diagnostic(`${victim.name} (writer) killed: down after ${detectMs.toFixed(0)} ms (bound ${bound} ms), ${down.label}`);
    assert.ok(detectMs <= bound, `${detectMs.toFixed(0)} <= ${bound}`);
    assert.equal(down.label, 'l4-refused');
    // The survivors form a 2-node Primary component; indexes are reassigned.
    const t1 = performance.now();
    await waitFor(
      'survivors report a 2-node cluster',
      () => survivors.every((n) => p.scheduler.get(n.name)?.info?.clusterSize === 2 && p.scheduler.get(n.name)?.lastResult?.ok),
      20_000,
    );
    const newWriter = p.writer();
    const idx = survivors.map((n) => `${n.name}=${p.scheduler.get(n.name)?.info?.galeraIndex}`).join(' ');
    t.diagnostic(`survivors re-indexed after ${((performance.now() - t1) / 1000).toFixed(1)} s: ${idx}; new writer ${newWriter}`);
    assert.ok(survivors.every((n) => p.state(n.name) === 'up'));
    assert.deepEqual(survivors.map((n) => p.scheduler.get(n.name)?.info?.galeraIndex).sort(), [0, 1]);
    assert.ok(newWriter && newWriter !== victim.name);
    assert.equal(p.changes.filter((c) => c.server !== victim.name && c.at > killedAt).length, 0, 'no survivor flapped');
  } finally {
    await p.scheduler.stop();
  }
});
