/**
 * `baton status --why` as text: the adverts, the master-down arithmetic,
 * the check counters and the writer decision, and "-" for what an older
 * daemon did not send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatWhy } from '../src/cli/why.js';
import type { AdminStatus } from '../src/cli/admin-client.js';

const status = {
  node: 'lb2', version: '0.1.0', pid: 1, uptime_s: 1, workers: 1, auth: { token_required: false },
  vrrp: [{
    name: 'VI_1', state: 'backup', priority: 101, effective_priority: 101, master: '10.0.0.1', virtual_ips: [], interface: 'eth0', router_id: 1, faults: [],
    why: {
      adverts: [{ from: '10.0.0.1', priority: 102, age_s: 0.04, count: 12 }],
      master_down: { interval_ms: 100, skew_ms: 60.5, total_ms: 360.5, left_ms: 321, arithmetic: '3 x 100ms + 60.5ms skew = 360.5ms' },
      reason: 'startup', since_s: 12.5,
    },
  }],
  services: [{
    name: 'write', listen: '0.0.0.0:3306', balance: 'writer', writer: 'db2', active: 0, total: 0,
    decision: { epoch: 2, decided_by: 'lb1', reason: 'db1 down', role: 'adopt', why: 'adopted from lb1' },
    servers: [
      { name: 'db1', address: 'a', state: 'down', admin: 'ready', health: 'down', weight: 1, backup: false, active: 0, total: 0, bytes_in: 0, bytes_out: 0, connect_errors: 0, check: null,
        why: { last_check: { result: 'l4-refused', layer: 'L4', ms: 1 }, counter: { value: 0, rise: 2, fall: 2, checks: 9 }, since_s: 3.2, reason: 'x' } },
      { name: 'db2', address: 'b', state: 'up', admin: 'ready', health: 'up', weight: 1, backup: false, active: 0, total: 0, bytes_in: 0, bytes_out: 0, connect_errors: 0, check: null },
    ],
  }],
} as unknown as AdminStatus;

test('--why names the adverts, the arithmetic, the counters and the decision', () => {
  const text = formatWhy(status);
  assert.match(text, /^ {2}vrrp VI_1: BACKUP since 12\.5s \(startup\)$/m);
  assert.match(text, /^ {4}advert from 10\.0\.0\.1 priority 102, 0\.04s ago \(12 heard\)$/m);
  assert.match(text, /^ {4}master down: 3 x 100ms \+ 60\.5ms skew = 360\.5ms; timer 321ms left$/m);
  assert.match(text, /^ {2}service write: writer db2, epoch 2, decided by lb1 \(db1 down\); this node adopts: adopted from lb1$/m);
  assert.match(text, /^ {4}server write\/db1: down since 3\.20s; last check l4-refused L4 1ms; counter 0 \(up at >= 2, rise 2, fall 2\), 9 checks$/m);
  assert.doesNotMatch(text, /write\/db2/, 'a server without why fields is left out');
});

test('--why against a daemon without decisions or timers', () => {
  const s = structuredClone(status) as unknown as { vrrp: Array<{ why: unknown }>; services: Array<{ decision: unknown }> };
  s.vrrp[0]!.why = null;
  s.services[0]!.decision = null;
  const text = formatWhy(s as unknown as AdminStatus);
  assert.match(text, /vrrp VI_1: BACKUP since - \(-\)/);
  assert.match(text, /service write: writer db2, no shared decision$/m);
});
