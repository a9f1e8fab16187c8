/**
 * The control plane's decisions, table-driven: effective server state from
 * health and operator settings, the writer choice, and exactly-once change
 * notifications to the data plane.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlPlane } from '../src/control-plane.js';
import { chooseWriter } from '../src/writer.js';
import type { BatonConfig, ServiceConfig, WriterConfig } from '../src/config/types.js';

function service(name: string, balance: ServiceConfig['balance'], servers: Array<[string, boolean?]>, writer?: Partial<WriterConfig>, initial: 'up' | 'down' = 'up'): ServiceConfig {
  return {
    name,
    listen: { host: '127.0.0.1', port: 1 },
    balance,
    connectTimeoutMs: 1000,
    idleTimeoutMs: 0,
    retries: 2,
    writer: balance === 'writer' ? { pick: 'first', failback: false, onChange: 'close', ...writer } : undefined,
    health: { check: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2, initial, path: '/', status: 200, query: 'SELECT 1', requireWritable: false, donorOk: false },
    servers: servers.map(([n, backup]) => ({ name: n, address: { host: '127.0.0.1', port: 2 }, weight: 1, backup: backup ?? false })),
  };
}

function config(...services: ServiceConfig[]): BatonConfig {
  return { node: 't', admin: { listen: { host: '127.0.0.1', port: 9 } }, workers: 1, shutdownTimeoutMs: 1000, logLevel: 'info', vrrp: [], vrrpSyncGroups: [], services };
}

function harness() {
  const calls: string[] = [];
  const control = new ControlPlane({
    setServerState: (svc, srv, state) => calls.push(`state ${svc}/${srv} ${state}`),
    setWriter: (svc, srv) => calls.push(`writer ${svc} ${srv ?? 'none'}`),
  });
  return { control, calls, take: () => calls.splice(0) };
}

test('effective state: maint > drain > health; ready hands control back to health', () => {
  const { control, take } = harness();
  control.setConfig(config(service('read', 'roundrobin', [['a'], ['b']])));
  take();
  control.setHealth('read', 'a', false, 'l4-refused');
  assert.deepEqual(take(), ['state read/a down']);
  control.setAdmin('read', 'a', 'drain');
  assert.deepEqual(take(), ['state read/a drain']);
  control.setHealth('read', 'a', true, 'ok');
  assert.deepEqual(take(), [], 'health up under a drain changes nothing visible');
  control.setAdmin('read', 'a', 'maint');
  assert.deepEqual(take(), ['state read/a maint']);
  control.setAdmin('read', 'a', 'ready');
  assert.deepEqual(take(), ['state read/a up']);
  control.setHealth('read', 'a', true, 'ok');
  assert.deepEqual(take(), [], 'no change, no call');
  assert.equal(control.setAdmin('read', 'nope', 'drain'), false);
  assert.equal(control.setAdmin('nope', 'a', 'drain'), false);
  assert.deepEqual(control.status('read', 'a'), { health: 'up', healthReason: 'ok', admin: 'ready', state: 'up' });
});

test('writer pick first, failback false: the writer stays while up; failback true returns to the first', () => {
  for (const failback of [false, true]) {
    const { control, take } = harness();
    control.setConfig(config(service('w', 'writer', [['a'], ['b'], ['c']], { failback })));
    assert.equal(control.writer('w'), 'a');
    take();
    control.setHealth('w', 'a', false, 'down');
    assert.deepEqual(take(), ['state w/a down', 'writer w b']);
    control.setHealth('w', 'a', true, 'ok');
    assert.deepEqual(take(), failback ? ['state w/a up', 'writer w a'] : ['state w/a up']);
  }
});

test('writer: drain or maint of the writer moves it; no up server means no writer; backups only without primaries', () => {
  const { control, take } = harness();
  control.setConfig(config(service('w', 'writer', [['a'], ['b'], ['z', true]])));
  take();
  control.setAdmin('w', 'a', 'maint');
  assert.deepEqual(take(), ['state w/a maint', 'writer w b']);
  control.setHealth('w', 'b', false, 'down');
  assert.deepEqual(take(), ['state w/b down', 'writer w z']);
  control.setHealth('w', 'z', false, 'down');
  assert.deepEqual(take(), ['state w/z down', 'writer w none']);
  assert.deepEqual(control.servicesWithoutUpServer(), ['w']);
});

test('servers start down when the health section says so, and the writer waits for one', () => {
  const { control, take } = harness();
  control.setConfig(config(service('w', 'writer', [['a'], ['b']], {}, 'down')));
  assert.equal(control.writer('w'), null);
  take();
  control.setHealth('w', 'b', true, 'ok');
  assert.deepEqual(take(), ['state w/b up', 'writer w b']);
});

test('a reload keeps the health and operator state of servers that stay, and re-decides writers', () => {
  const { control, take } = harness();
  control.setConfig(config(service('w', 'writer', [['a'], ['b']])));
  control.setAdmin('w', 'a', 'drain');
  assert.equal(control.writer('w'), 'b');
  take();
  control.setConfig(config(service('w', 'writer', [['a'], ['b'], ['c']])));
  assert.deepEqual(control.status('w', 'a')?.admin, 'drain');
  assert.equal(control.writer('w'), 'b');
  control.setConfig(config(service('w', 'writer', [['a'], ['c']])));
  assert.equal(control.writer('w'), 'c', 'the removed writer is replaced');
});

test('listeners hear every change once', () => {
  const { control } = harness();
  const events: string[] = [];
  control.subscribe((e) => events.push(`${e.service} ${e.server ?? ''} ${e.state ?? ''} ${e.writer === undefined ? '' : e.writer}`.trim()));
  control.setConfig(config(service('w', 'writer', [['a'], ['b']])));
  events.length = 0;
  control.setHealth('w', 'a', false, 'down');
  assert.deepEqual(events, ['w a down', 'w   b']);
});

test('chooseWriter: galera-index picks the lowest index among up servers, the same whatever the order', () => {
  const cfg: WriterConfig = { pick: 'galera-index', failback: true, onChange: 'close' };
  const cands = [
    { name: 'a', up: true, backup: false, galeraIndex: 2 },
    { name: 'b', up: true, backup: false, galeraIndex: 0 },
    { name: 'c', up: false, backup: false, galeraIndex: 1 },
  ];
  assert.equal(chooseWriter(cfg, cands, null), 'b');
  assert.equal(chooseWriter(cfg, [...cands].reverse(), null), 'b');
  assert.equal(chooseWriter(cfg, cands.map((c) => ({ ...c, up: c.name !== 'b' })), 'b'), 'c', 'b down: c has the lowest index left');
  assert.equal(chooseWriter({ ...cfg, failback: false }, cands, 'a'), 'a', 'no failback keeps an up writer');
  assert.equal(chooseWriter(cfg, cands.map((c) => ({ ...c, galeraIndex: undefined })), null), null, 'no index reported yet: no writer');
  assert.equal(chooseWriter(cfg, [], null), null);
});
