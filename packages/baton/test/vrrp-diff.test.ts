/**
 * Which reload changes restart a VRRP instance and which are applied in
 * place (diff.ts), and the log line each gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VrrpInstanceConfig } from '../src/config/types.js';
import { describeDiff, diffInstance } from '../src/vrrp/diff.js';
import type { InstanceSpec } from '../src/vrrp/ipc.js';

const CFG: VrrpInstanceConfig = {
  name: 'VI_1',
  interface: 'eth0',
  routerId: 51,
  priority: 150,
  version: 2,
  advertIntervalMs: 1000,
  preempt: true,
  preemptDelayMs: 0,
  unicastPeers: [],
  virtualIps: [{ address: '10.0.0.100', prefixLength: 24 }],
  garp: { repeat: 5, intervalMs: 0, refreshMs: 0, delayMs: 5000 },
  track: { interfaces: [], services: [], scripts: [] },
  notify: [],
  notifyOn: { master: [], backup: [], fault: [], stop: [] },
  v3ChecksumAsV2: false,
};

const spec = (over: Partial<VrrpInstanceConfig> = {}, authPass: string | undefined = 'secret', siblings: number[] = []): InstanceSpec => ({
  config: { ...CFG, ...over },
  authPass,
  siblings,
});

test('an identical spec is left alone (siblings are not a change of this instance)', () => {
  const d = diffInstance(spec(), spec({}, 'secret', [52]));
  assert.deepEqual(d, { restart: [], update: [] });
  assert.equal(describeDiff('VI_1', d), undefined);
});

test('notify, garp, track, preempt, preempt_delay and priority are applied in place', () => {
  const cases: [Partial<VrrpInstanceConfig>, string][] = [
    [{ notify: [['/bin/true']] }, 'notify'],
    [{ garp: { repeat: 2, intervalMs: 0, refreshMs: 0, delayMs: 5000 } }, 'garp'],
    [{ garp: { repeat: 5, intervalMs: 0, refreshMs: 0, delayMs: 2000 } }, 'garp'],
    [{ track: { interfaces: [{ name: 'eth1', weight: 0 }], services: [], scripts: [] } }, 'track'],
    [{ track: { interfaces: [{ name: 'eth1', weight: -20 }], services: [], scripts: [] } }, 'track'],
    [{ notifyOn: { master: [['/bin/true']], backup: [], fault: [], stop: [] } }, 'notify'],
    [{ track: { interfaces: [], services: ['db'], scripts: [] } }, 'track'],
    [{ track: { interfaces: [], services: [], scripts: [{ command: ['/bin/true'], intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, weight: 0 }] } }, 'track'],
    [{ preempt: false }, 'preempt'],
    [{ preemptDelayMs: 5000 }, 'preempt_delay'],
    [{ priority: 100 }, 'priority'],
  ];
  for (const [over, key] of cases) assert.deepEqual(diffInstance(spec(), spec(over)), { restart: [], update: [key] }, key);
  const many = diffInstance(spec(), spec({ notify: [['/bin/true']], garp: { repeat: 1, intervalMs: 0, refreshMs: 0, delayMs: 5000 } }));
  assert.equal(describeDiff('VI_1', many), 'vrrp instance VI_1 updated in place (garp, notify)');
});

test('interface, router_id, version, advert_interval, auth_pass, unicast, virtual_ips and v3_checksum_as_v2 restart', () => {
  const cases: [InstanceSpec, string][] = [
    [spec({ interface: 'eth1' }), 'interface'],
    [spec({ routerId: 52 }), 'router_id'],
    [spec({ version: 3 }, undefined), 'version'],
    [spec({ advertIntervalMs: 2000 }), 'advert_interval'],
    [spec({}, 'other'), 'auth_pass'],
    [spec({ unicastPeers: ['10.0.0.12'] }), 'unicast_peers'],
    [spec({ unicastSrcIp: '10.0.0.11' }), 'unicast_src_ip'],
    [spec({ virtualIps: [{ address: '10.0.0.100', prefixLength: 24 }, { address: '10.0.0.101', prefixLength: 24 }] }), 'virtual_ips'],
    [spec({ v3ChecksumAsV2: true }), 'v3_checksum_as_v2'],
  ];
  for (const [next, key] of cases) {
    const d = diffInstance(spec(), next);
    assert.ok(d.restart.includes(key), `${key}: ${JSON.stringify(d)}`);
    assert.deepEqual(d.update, [], `${key}: a restart lists no in-place keys`);
  }
  const d = diffInstance(spec(), spec({ virtualIps: [{ address: '10.0.0.101', prefixLength: 24 }], notify: [['/bin/true']] }));
  assert.equal(describeDiff('VI_1', d), 'vrrp instance VI_1 restarted (virtual_ips changed)');
});

test('a priority that becomes or stops being the address owner (255) restarts', () => {
  assert.deepEqual(diffInstance(spec(), spec({ priority: 255 })).restart, ['priority']);
  assert.deepEqual(diffInstance(spec({ priority: 255 }), spec({ priority: 200 })).restart, ['priority']);
  assert.deepEqual(diffInstance(spec({ priority: 200 }), spec({ priority: 254 })), { restart: [], update: ['priority'] });
});

test('the same password under another auth_pass_env name is no change', () => {
  assert.deepEqual(diffInstance(spec({ authPassEnv: 'A' }), spec({ authPassEnv: 'B' })), { restart: [], update: [] });
});
