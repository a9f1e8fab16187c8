/** Pure parts of the database checks: Galera verdicts, the writer pick, replica lag, error classes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeGalera, parseGaleraRow, type GaleraStatus } from '../src/galera.js';
import { pickGaleraWriter } from '../src/writer-pick.js';
import { evaluateReplicaStatus, truthy } from '../src/mysql.js';
import { classify } from '../src/mysql-session.js';
import { createProbe } from '../src/probe-factory.js';

const synced: GaleraStatus = {
  localState: 4,
  clusterStatus: 'Primary',
  ready: true,
  localIndex: 1,
  clusterSize: 3,
  desync: false,
  rejectQueries: 'NONE',
  readOnly: false,
};

const galeraTable: Array<{ name: string; s: Partial<GaleraStatus>; opts?: { donorOk?: boolean; requireWritable?: boolean }; want: string }> = [
  { name: 'synced primary node', s: {}, want: 'ok' },
  { name: 'non-primary component', s: { clusterStatus: 'non-Primary' }, want: 'galera-not-primary' },
  { name: 'not ready', s: { ready: false }, want: 'galera-not-ready' },
  { name: 'joining', s: { localState: 1 }, want: 'galera-not-synced' },
  { name: 'joined (catching up)', s: { localState: 3 }, want: 'galera-not-synced' },
  { name: 'donor without donor_ok', s: { localState: 2 }, want: 'galera-not-synced' },
  { name: 'donor with donor_ok', s: { localState: 2 }, opts: { donorOk: true }, want: 'ok' },
  { name: 'desynced by hand without donor_ok', s: { localState: 2, desync: true }, want: 'galera-not-synced' },
  { name: 'desync ON while still Synced', s: { desync: true }, want: 'galera-desync' },
  { name: 'desynced by hand with donor_ok', s: { localState: 2, desync: true }, opts: { donorOk: true }, want: 'ok' },
  { name: 'reject queries', s: { rejectQueries: 'ALL' }, want: 'galera-reject-queries' },
  { name: 'read_only is reported but not judged by default', s: { readOnly: true }, want: 'ok' },
  { name: 'read_only with require_writable', s: { readOnly: true }, opts: { requireWritable: true }, want: 'read-only' },
  { name: 'no wsrep status at all', s: { localState: null }, want: 'galera-not-synced' },
];
for (const row of galeraTable) {
  test(`galera verdict: ${row.name}`, () => {
    const v = judgeGalera({ ...synced, ...row.s }, row.opts ?? {});
    assert.equal(v.ok ? 'ok' : v.reason, row.want);
  });
}

test('galera: parses the row as MariaDB returns it', () => {
  const s = parseGaleraRow({ local_state: '4', cluster_status: 'Primary', ready: 'ON', local_index: '0', cluster_size: '3', desync: 0, reject_queries: 'NONE', read_only: 1 });
  assert.deepEqual(s, { localState: 4, clusterStatus: 'Primary', ready: true, localIndex: 0, clusterSize: 3, desync: false, rejectQueries: 'NONE', readOnly: true });
  const none = parseGaleraRow({ local_state: null, cluster_status: null, ready: null, local_index: null, cluster_size: null, desync: 0, reject_queries: 'NONE', read_only: 0 });
  assert.equal(none.localState, null);
  assert.equal(none.ready, false);
});

test('pickGaleraWriter: lowest wsrep_local_index among up servers', () => {
  const info = (galeraIndex: number) => ({ galeraIndex });
  assert.equal(pickGaleraWriter([]), undefined);
  assert.equal(pickGaleraWriter([{ name: 'db1', up: true, info: info(2) }, { name: 'db2', up: true, info: info(0) }, { name: 'db3', up: true, info: info(1) }]), 'db2');
  // The index-0 node is down: the next lowest wins.
  assert.equal(pickGaleraWriter([{ name: 'db1', up: true, info: info(2) }, { name: 'db2', up: false, info: info(0) }, { name: 'db3', up: true, info: info(1) }]), 'db3');
  // No index reported yet: never picked.
  assert.equal(pickGaleraWriter([{ name: 'db1', up: true }, { name: 'db2', up: true, info: {} }]), undefined);
  // Ties (views differ mid-change) go to config order.
  assert.equal(pickGaleraWriter([{ name: 'db1', up: true, info: info(1) }, { name: 'db2', up: true, info: info(1) }]), 'db1');
  assert.equal(pickGaleraWriter([{ name: 'db1', up: false, info: info(0) }]), undefined);
});

test('pickGaleraWriter: two control planes with the same view pick the same writer whatever their server order', () => {
  const view = [
    { name: 'db1', up: true, info: { galeraIndex: 1 } },
    { name: 'db2', up: true, info: { galeraIndex: 2 } },
    { name: 'db3', up: true, info: { galeraIndex: 0 } },
  ];
  assert.equal(pickGaleraWriter(view), 'db3');
  assert.equal(pickGaleraWriter([...view].reverse()), 'db3');
});

test('replica lag: not a replica, within, above, stopped', () => {
  assert.deepEqual(evaluateReplicaStatus([], 10), { ok: true });
  assert.deepEqual(evaluateReplicaStatus([{ Seconds_Behind_Master: 3 }], 10), { ok: true, lagS: 3 });
  const above = evaluateReplicaStatus([{ Seconds_Behind_Master: '42' }], 10);
  assert.equal(above.ok, false);
  assert.equal(above.lagS, 42);
  const stopped = evaluateReplicaStatus([{ Seconds_Behind_Master: null, Slave_IO_Running: 'No', Slave_SQL_Running: 'Yes' }], 10);
  assert.deepEqual(stopped, { ok: false, lagS: null, detail: 'replication not running (IO No, SQL Yes)' });
  assert.deepEqual(evaluateReplicaStatus([{ Seconds_Behind_Source: 1 }], 0).ok, false);
});

test('mysql errors map to layered reasons', () => {
  assert.equal(classify({ code: 'ECONNREFUSED' }, false, 'connect'), 'l4-refused');
  assert.equal(classify({ code: 'ETIMEDOUT' }, false, 'connect'), 'l4-timeout');
  assert.equal(classify({ code: 'ETIMEDOUT' }, true, 'connect'), 'l7-timeout');
  assert.equal(classify({ code: 'EHOSTUNREACH' }, false, 'connect'), 'l4-error');
  assert.equal(classify({ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 }, true, 'connect'), 'l7-auth');
  assert.equal(classify({ code: 'ER_HOST_IS_BLOCKED', errno: 1129 }, true, 'connect'), 'l7-blocked');
  assert.equal(classify({ code: 'ER_PARSE_ERROR', errno: 1064 }, true, 'query'), 'l7-query');
  assert.equal(classify({ code: 'PROTOCOL_CONNECTION_LOST' }, true, 'query'), 'l7-error');
  assert.equal(truthy('ON'), true);
  assert.equal(truthy(0), false);
  assert.equal(truthy('OFF'), false);
});

test('createProbe: builds each kind; missing user or command is a health-config error', () => {
  const server = { host: '127.0.0.1', port: 3306 };
  for (const check of ['tcp', 'http'] as const) assert.equal(typeof createProbe({ check, timeoutMs: 1000 }, server).check, 'function');
  assert.throws(() => createProbe({ check: 'mysql', timeoutMs: 1000 }, server), { code: 'health-config' });
  assert.throws(() => createProbe({ check: 'script', timeoutMs: 1000 }, server), { code: 'health-config' });
  assert.equal(typeof createProbe({ check: 'galera', timeoutMs: 1000, user: 'u' }, server).close, 'function');
});
