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
    queueTimeoutMs: 5000,
    logSessions: false,
    writer: balance === 'writer' ? { pick: 'first', failback: false, onChange: 'close', ...writer } : undefined,
    health: { check: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2, initial, path: '/', status: 200, query: 'SELECT 1', requireWritable: false, donorOk: false },
    servers: servers.map(([n, backup]) => ({ name: n, address: { host: '127.0.0.1', port: 2 }, weight: 1, backup: backup ?? false })),
  };
}

function config(...services: ServiceConfig[]): BatonConfig {
  return { node: 't', admin: { listen: { host: '127.0.0.1', port: 9 } }, workers: 1, engine: 'native', shutdownTimeoutMs: 1000, logLevel: 'info', vrrp: [], vrrpSyncGroups: [], services };
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

test('a reload that removes the health section puts its servers up: without checks a server is always up', () => {
  const { control, take } = harness();
  const checked = (balance: ServiceConfig['balance']) => service('s', balance, [['a'], ['b']], {}, 'down');
  for (const balance of ['roundrobin', 'writer'] as const) {
    control.setConfig(config(checked(balance)));
    control.setHealth('s', 'a', false, 'l4-refused: refused');
    control.setHealth('s', 'b', false, 'l4-refused: refused');
    control.setAdmin('s', 'b', 'drain');
    assert.equal(control.status('s', 'a')?.state, 'down');
    take();
    control.setConfig(config({ ...checked(balance), health: undefined }));
    assert.deepEqual(control.status('s', 'a'), { health: 'up', healthReason: 'health checks removed', admin: 'ready', state: 'up' });
    assert.deepEqual(control.status('s', 'b'), { health: 'up', healthReason: 'health checks removed', admin: 'drain', state: 'drain' }, 'the operator setting stays');
    assert.deepEqual(take(), balance === 'writer' ? ['state s/a up', 'state s/b drain', 'writer s a'] : ['state s/a up', 'state s/b drain']);
    assert.deepEqual(control.servicesWithoutUpServer(), []);
    control.setAdmin('s', 'b', 'ready');
    // Unchanged on the next reload: still no checks, still up.
    control.setConfig(config({ ...checked(balance), health: undefined }));
    assert.equal(control.status('s', 'b')?.state, 'up');
    control.setConfig(config()); // forget the service for the next round
  }
});

test('a reload that changes a server address starts it from health.initial; the writer moves off it before it is checked', () => {
  const { control, take } = harness();
  const cfg = (initial: 'up' | 'down', port: number) => {
    const svc = service('w', 'writer', [['a'], ['b']], {}, initial);
    svc.servers[0]!.address = { host: '127.0.0.1', port };
    return config(svc);
  };
  control.setConfig(cfg('down', 2));
  control.setHealth('w', 'a', true, 'check passed');
  control.setHealth('w', 'b', true, 'check passed');
  assert.equal(control.writer('w'), 'a');
  take();
  control.setConfig(cfg('down', 2));
  assert.equal(control.status('w', 'a')?.state, 'up', 'same address: the verdict stays');
  take();
  control.setConfig(cfg('down', 3));
  assert.deepEqual(control.status('w', 'a'), { health: 'down', healthReason: 'address changed', admin: 'ready', state: 'down' });
  assert.deepEqual(control.status('w', 'b')?.state, 'up', 'the unchanged server keeps its verdict');
  assert.deepEqual(take(), ['state w/a down', 'state w/b up', 'writer w b']);
  // With initial: up, a changed address that was down comes up at once (and is checked from there).
  control.setHealth('w', 'a', false, 'l4-refused: refused');
  control.setConfig(cfg('up', 4));
  assert.deepEqual(control.status('w', 'a'), { health: 'up', healthReason: 'address changed', admin: 'ready', state: 'up' });
});

test('a reload that leaves a writer service with no writer tells the data plane so, and a re-decided writer is re-sent', () => {
  const { control, take } = harness();
  const cfg = (port: number) => {
    const svc = service('w', 'writer', [['a']], {}, 'down');
    svc.servers[0]!.address = { host: '127.0.0.1', port };
    return config(svc);
  };
  control.setConfig(cfg(2));
  control.setHealth('w', 'a', true, 'check passed');
  assert.equal(control.writer('w'), 'a');
  take();
  // The only server moves: it starts down, so there is no writer, and the data plane must stop sending to the old one.
  control.setConfig(cfg(3));
  assert.equal(control.writer('w'), null);
  assert.deepEqual(take(), ['state w/a down', 'writer w none']);
  // An unchanged reload re-sends the unchanged answer: the data plane may have re-created the service.
  control.setConfig(cfg(3));
  assert.deepEqual(take(), ['state w/a down', 'writer w none']);
});

/** A galera-index writer service; its servers start down, and verdicts arrive as setHealth calls. */
function galeraPlane(failback: boolean, names: string[]) {
  const h = harness();
  h.control.setConfig(config(service('w', 'writer', names.map((n) => [n]), { pick: 'galera-index', failback }, 'down')));
  return h;
}

type Verdict = [server: string, up: boolean, index?: number];
const VERDICTS: Verdict[] = [
  ['a', true, 2],
  ['b', true, 1],
  ['c', true, 0],
  ['d', false],
];

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

test('galera-index, failback false: the first writer waits for every verdict, so any arrival order picks the lowest index', () => {
  const picked = new Set<string | null>();
  for (const order of permutations(VERDICTS)) {
    const { control } = galeraPlane(false, ['a', 'b', 'c', 'd']);
    const seen: string[] = [];
    for (const [i, [name, up, index]] of order.entries()) {
      assert.equal(control.writer('w'), null, `no writer before every verdict (after ${seen.join(' ') || 'none'})`);
      assert.deepEqual(control.awaitingVerdicts('w')?.sort(), ['a', 'b', 'c', 'd'].filter((n) => !seen.includes(n)));
      control.setHealth('w', name, up, up ? 'check passed' : 'l4-refused: refused', index);
      seen.push(name);
      if (i === order.length - 1) assert.equal(control.awaitingVerdicts('w'), undefined, 'the wait is over');
    }
    picked.add(control.writer('w'));
    // Then failback false holds: a lower index appearing later does not move the writer.
    control.setHealth('w', 'a', true, 'check passed', 0);
    control.setHealth('w', 'c', true, 'check passed', 1);
    assert.equal(control.writer('w'), 'c');
  }
  assert.deepEqual([...picked], ['c'], 'every one of the 24 orders picks the server with wsrep_local_index 0');
});

test('galera-index, failback false: a server up without an index is no verdict; drained servers are not waited for; ending the wait picks from what is known', () => {
  const { control, take } = galeraPlane(false, ['a', 'b', 'c']);
  take();
  control.setHealth('w', 'a', true, 'check passed'); // up, but no wsrep_local_index yet
  control.setHealth('w', 'b', true, 'check passed', 1);
  assert.deepEqual(control.awaitingVerdicts('w'), ['a', 'c']);
  control.setAdmin('w', 'c', 'maint');
  assert.deepEqual(control.awaitingVerdicts('w'), ['a']);
  assert.equal(control.writer('w'), null);
  assert.deepEqual(control.endVerdictWait('w', 'no verdict from a within 1000 ms'), ['a']);
  assert.equal(control.writer('w'), 'b');
  assert.deepEqual(take(), ['state w/a up', 'state w/b up', 'state w/c maint', 'writer w b']);
  assert.equal(control.endVerdictWait('w', 'again'), undefined, 'nothing to end twice');
  // A reload does not start a new wait for a service that already has its writer.
  control.setConfig(config(service('w', 'writer', [['a'], ['b'], ['c'], ['e']], { pick: 'galera-index', failback: false }, 'down')));
  assert.equal(control.awaitingVerdicts('w'), undefined);
  assert.equal(control.writer('w'), 'b');
});

test('galera-index, failback true: the writer is at every step the lowest index among the up servers, whatever the arrival order', () => {
  for (const order of permutations(VERDICTS)) {
    const { control } = galeraPlane(true, ['a', 'b', 'c', 'd']);
    assert.equal(control.awaitingVerdicts('w'), undefined, 'no wait with failback');
    const state = new Map<string, Verdict>();
    for (const v of order) {
      control.setHealth('w', v[0], v[1], 'x', v[2]);
      state.set(v[0], v);
      const up = [...state.values()].filter(([, isUp, i]) => isUp && i !== undefined).sort((x, y) => x[2]! - y[2]!);
      assert.equal(control.writer('w'), up[0]?.[0] ?? null, order.map((o) => o[0]).join(''));
    }
    assert.equal(control.writer('w'), 'c');
  }
});
