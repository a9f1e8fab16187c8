/**
 * The mysql check against a real MariaDB started for this file: rise, a wrong
 * password, read_only, a killed server, a dropped monitoring connection, and
 * the max_connect_errors trap (1,000 checks must not raise Aborted_connects).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { createMysqlProbe, createProbe, createTcpProbe, HealthScheduler, type CheckResult, type HealthChange, type Probe } from '@baton/health';
import { mariadbCapability, startMariaDb, type MariaDb } from './helpers/mariadb.js';

const cap = mariadbCapability();
const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
let db: MariaDb | undefined;
let startupMs = 0;

before(async () => {
  if (!cap.ok) return;
  const t0 = performance.now();
  db = await startMariaDb({
    users: [HCHECK, { user: 'hlag', password: 'hlag-pw', grants: 'SLAVE MONITOR' }],
  });
  startupMs = performance.now() - t0;
});

after(async () => {
  await db?.stop();
});

const reasonOf = (r: CheckResult) => (r.ok ? 'ok' : r.reason);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function run(probe: Probe, timing: { intervalMs: number; timeoutMs: number; rise: number; fall: number; initial?: 'up' | 'down' }) {
  const changes: Array<HealthChange & { at: number }> = [];
  const results: CheckResult[] = [];
  const scheduler = new HealthScheduler({
    servers: [{ name: 'db', probe, timing }],
    onChange: (c) => changes.push({ ...c, at: performance.now() }),
    onResult: (_s, r) => results.push(r),
  });
  return { scheduler, changes, results };
}

test('mariadb: started for the test', (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  assert.ok(db);
  t.diagnostic(`mariadb-install-db + mariadbd ready in ${startupMs.toFixed(0)} ms on port ${db.port}`);
});

test('mariadb: a good check goes up after rise successes (password from password_env)', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  process.env.BATON_TEST_HCHECK_PASSWORD = HCHECK.password;
  // What the daemon does: resolve password_env, pass the normalized fields.
  const probe = createProbe({ check: 'mysql', timeoutMs: 1000, user: HCHECK.user, password: process.env.BATON_TEST_HCHECK_PASSWORD }, { host: db!.host, port: db!.port });
  const { scheduler, changes, results } = run(probe, { intervalMs: 100, timeoutMs: 1000, rise: 3, fall: 2 });
  const t0 = performance.now();
  scheduler.start();
  assert.equal(scheduler.get('db')?.state, 'down', 'starts down');
  const up = await waitFor('up', () => changes.find((c) => c.to === 'up'), 5000);
  await scheduler.stop();
  assert.equal(results.slice(0, 3).every((r) => r.ok), true);
  assert.equal(up.label, 'ok');
  assert.equal(results.indexOf(up.result), 2, 'up on the third (rise) success, not before');
  t.diagnostic(`up after ${(up.at - t0).toFixed(0)} ms (rise 3, interval 100 ms); check took ${results.map((r) => r.ms).join('/')} ms`);
});

test('mariadb: a wrong password is down with l7-auth, not a crash', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const probe = createMysqlProbe({ host: db!.host, port: db!.port }, { user: HCHECK.user, password: 'wrong' });
  const { scheduler, results } = run(probe, { intervalMs: 100, timeoutMs: 1000, rise: 2, fall: 2, initial: 'up' });
  scheduler.start();
  await waitFor('three results', () => (results.length >= 3 ? true : undefined), 5000);
  await scheduler.stop();
  assert.ok(results.every((r) => reasonOf(r) === 'l7-auth'), results.map(reasonOf).join(','));
  assert.match(!results[0]!.ok ? results[0]!.detail : '', /Access denied/);
  assert.equal(scheduler.get('db')?.state, 'down');
  // An unknown user is the same failure.
  const nobody = createMysqlProbe({ host: db!.host, port: db!.port }, { user: 'nobody', password: 'x' });
  assert.equal(reasonOf(await nobody.check(AbortSignal.timeout(1000))), 'l7-auth');
  await nobody.close();
});

test('mariadb: read_only=ON fails require_writable with read-only, and recovers when OFF', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const probe = createMysqlProbe({ host: db!.host, port: db!.port }, { ...HCHECK, requireWritable: true });
  try {
    const first = await probe.check(AbortSignal.timeout(1000));
    assert.equal(reasonOf(first), 'ok');
    assert.deepEqual(first.ok && first.info, { readOnly: false });
    await db!.admin.query('SET GLOBAL read_only = ON');
    const ro = await probe.check(AbortSignal.timeout(1000));
    assert.equal(reasonOf(ro), 'read-only');
    assert.equal(ro.info?.readOnly, true);
    // Without require_writable a read-only server is fine.
    const plain = createMysqlProbe({ host: db!.host, port: db!.port }, HCHECK);
    assert.equal(reasonOf(await plain.check(AbortSignal.timeout(1000))), 'ok');
    await plain.close();
    await db!.admin.query('SET GLOBAL read_only = OFF');
    assert.equal(reasonOf(await probe.check(AbortSignal.timeout(1000))), 'ok');
  } finally {
    await db!.admin.query('SET GLOBAL read_only = OFF');
    await probe.close();
  }
});

test('mariadb: a custom query that fails is l7-query; max_replica_lag on a non-replica passes', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const bad = createMysqlProbe({ host: db!.host, port: db!.port }, { ...HCHECK, query: 'SELECT * FROM no_such_db.t' });
  assert.equal(reasonOf(await bad.check(AbortSignal.timeout(1000))), 'l7-query');
  await bad.close();
  const lag = createMysqlProbe({ host: db!.host, port: db!.port }, { user: 'hlag', password: 'hlag-pw', maxReplicaLagS: 5 });
  const r = await lag.check(AbortSignal.timeout(1000));
  assert.equal(reasonOf(r), 'ok', JSON.stringify(r));
  await lag.close();
});

test('mariadb: the monitoring connection is reopened after the server kills it', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const probe = createMysqlProbe({ host: db!.host, port: db!.port }, HCHECK);
  try {
    assert.equal(reasonOf(await probe.check(AbortSignal.timeout(1000))), 'ok');
    const rows = await db!.admin.query(`SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '${HCHECK.user}'`);
    assert.equal(rows.length, 1, 'exactly one monitoring connection');
    await db!.admin.query(`KILL CONNECTION ${rows[0]!.ID}`);
    await sleep(50);
    const after = await probe.check(AbortSignal.timeout(1000));
    assert.equal(reasonOf(after), 'ok', 'a dead kept connection does not fail the check');
    const again = await db!.admin.query(`SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '${HCHECK.user}'`);
    assert.equal(again.length, 1);
    assert.notEqual(again[0]!.ID, rows[0]!.ID);
  } finally {
    await probe.close();
  }
});

test('mariadb: 1,000 checks at 100 ms do not raise Aborted_connects; one connection serves them all', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const admin = db!.admin;
  // Sensitivity first: connect-and-drop checks (HAProxy's trap) do raise the counter.
  const abortedBeforeTcp = await admin.status('Aborted_connects');
  const tcp = createTcpProbe({ host: db!.host, port: db!.port });
  for (let i = 0; i < 10; i++) assert.equal(reasonOf(await tcp.check(AbortSignal.timeout(1000))), 'ok');
  await sleep(200);
  const abortedAfterTcp = await admin.status('Aborted_connects');
  t.diagnostic(`10 plain TCP connect checks: Aborted_connects ${abortedBeforeTcp} -> ${abortedAfterTcp}`);
  assert.ok(abortedAfterTcp - abortedBeforeTcp >= 10, 'the counter is sensitive to connect-and-drop checks');

  const abortedBefore = await admin.status('Aborted_connects');
  const connectionsBefore = await admin.status('Connections');
  const abortedClientsBefore = await admin.status('Aborted_clients');
  const probe = createMysqlProbe({ host: db!.host, port: db!.port }, HCHECK);
  const { scheduler, results } = run(probe, { intervalMs: 100, timeoutMs: 1000, rise: 2, fall: 2 });
  const t0 = performance.now();
  scheduler.start();
  await waitFor('1000 checks', () => (results.length >= 1000 ? true : undefined), 150_000);
  const took = performance.now() - t0;
  await scheduler.stop(); // closes with COM_QUIT: not an aborted client either
  await sleep(100);
  const abortedAfter = await admin.status('Aborted_connects');
  const connectionsAfter = await admin.status('Connections');
  const abortedClientsAfter = await admin.status('Aborted_clients');
  const okCount = results.filter((r) => r.ok).length;
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  t.diagnostic(
    `${results.length} checks in ${(took / 1000).toFixed(1)} s, ${okCount} ok; check ms p50 ${ms[ms.length >> 1]} p99 ${ms[Math.floor(ms.length * 0.99)]}; ` +
      `Aborted_connects ${abortedBefore} -> ${abortedAfter}; Connections ${connectionsBefore} -> ${connectionsAfter}; Aborted_clients ${abortedClientsBefore} -> ${abortedClientsAfter}`,
  );
  assert.equal(okCount, results.length);
  assert.equal(abortedAfter, abortedBefore, 'Aborted_connects unchanged');
  assert.equal(connectionsAfter - connectionsBefore, 1, 'a single login for all checks');
  assert.equal(abortedClientsAfter, abortedClientsBefore, 'the close is clean');
});

// Last: it kills the server.
test('mariadb: mariadbd killed is down within fall x interval + timeout', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const timing = { intervalMs: 200, timeoutMs: 500, rise: 1, fall: 3, initial: 'up' as const };
  const probe = createMysqlProbe({ host: db!.host, port: db!.port }, HCHECK);
  const { scheduler, changes, results } = run(probe, timing);
  scheduler.start();
  await waitFor('a first ok', () => (results.some((r) => r.ok) ? true : undefined), 3000);
  await sleep(150);
  const killedAt = performance.now();
  await db!.kill('SIGKILL');
  const down = await waitFor('down', () => changes.find((c) => c.to === 'down'), 5000);
  await scheduler.stop();
  const detectMs = down.at - killedAt;
  const bound = timing.fall * timing.intervalMs + timing.timeoutMs;
  t.diagnostic(`down ${detectMs.toFixed(0)} ms after SIGKILL (bound ${bound} ms), reason ${down.label}: ${down.detail}`);
  assert.ok(detectMs <= bound, `${detectMs.toFixed(0)} ms <= ${bound} ms`);
  assert.equal(down.label, 'l4-refused');
  assert.equal(changes.length, 1);
});
