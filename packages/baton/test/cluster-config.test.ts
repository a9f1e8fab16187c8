/**
 * The `cluster:` and `state_file:` keys: defaults, and clear errors for
 * bad values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../src/config/index.js';

const base = 'services:\n  - { name: w, listen: 127.0.0.1:3306, balance: writer, servers: [{ name: db1, address: 127.0.0.1:3307 }] }\n';

test('cluster: is parsed with its defaults, and state_file defaults under it', () => {
  const r = loadConfigText(base + 'cluster:\n  listen: 10.0.0.21:9901\n  peers: [10.0.0.22:9901]\n  secret_env: S\n', 'x', { S: 'x' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.config.cluster, {
    listen: { host: '10.0.0.21', port: 9901 },
    peers: [{ host: '10.0.0.22', port: 9901 }],
    secretEnv: 'S',
    startupWaitMs: 2000,
  });
  assert.equal(r.config.stateFile, '/var/lib/baton/state.json');
});

test('without cluster: there is no state file unless state_file is set', () => {
  const none = loadConfigText(base, 'x', {});
  assert.ok(none.ok);
  assert.equal(none.config.stateFile, undefined);
  const set = loadConfigText(base + 'state_file: /tmp/s.json\n', 'x', {});
  assert.ok(set.ok);
  assert.equal(set.config.stateFile, '/tmp/s.json');
});

test('bad cluster values are errors with their path', () => {
  const cases: Array<[string, RegExp]> = [
    ['cluster:\n  listen: 10.0.0.21:9901\n  peers: []\n  secret_env: S\n', /cluster\.peers.*at least one peer/],
    ['cluster:\n  listen: 10.0.0.21:9901\n  peers: [10.0.0.21:9901]\n  secret_env: S\n', /cluster\.peers\[0\].*own cluster\.listen/],
    ['cluster:\n  listen: nowhere\n  peers: [10.0.0.22:9901]\n  secret_env: S\n', /cluster\.listen/],
    ['cluster:\n  listen: 10.0.0.21:9901\n  peers: [10.0.0.22:9901]\n  secret: S\n', /cluster\.secret/],
    ['state_file: relative.json\n', /state_file.*absolute path/],
  ];
  for (const [extra, re] of cases) {
    const r = loadConfigText(base + extra, 'x', { S: 'x' });
    assert.equal(r.ok, false, extra);
    const text = r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    assert.match(text, re, extra);
  }
});

test('an unset secret_env is a warning', () => {
  const r = loadConfigText(base + 'cluster:\n  listen: 10.0.0.21:9901\n  peers: [10.0.0.22:9901]\n  secret_env: S\n', 'x', {});
  assert.ok(r.ok);
  assert.match(r.warnings.map((w) => w.message).join('\n'), /S is not set/);
});
