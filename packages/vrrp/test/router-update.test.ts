/**
 * Router.updateSettings: the settings a reload applies to a running router
 * (preempt, preempt delay, GARP timing) take effect without a transition
 * and without an advert, on a FakeClock over the in-memory LAN.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '@baton/core';
import { MemoryLan, type RouterConfig } from '../src/index.js';

const A = '10.203.0.11';
const B = '10.203.0.12';
const VIP = '10.203.0.100/24';

const base = (addr: string, priority: number, over: Partial<RouterConfig> = {}): RouterConfig => ({
  name: 'VI_1',
  vrid: 51,
  priority,
  version: 3,
  advertIntervalMs: 1000,
  primaryAddr: addr,
  virtualIps: [VIP],
  ...over,
});

function priorities(lan: MemoryLan, from: string, sinceMs: number): number[] {
  // The priority is the advert's third byte (RFC 5798 §5.1).
  return lan.packets.filter((p) => p.srcAddr === from && p.atMs >= sinceMs).map((p) => p.payload[2] as number);
}

test('updateSettings on a master: no transition, no extra advert, no priority 0; a later preempt uses the new mode', () => {
  const clock = new FakeClock(0);
  const lan = new MemoryLan(clock);
  const a = lan.addRouter(base(A, 100));
  const b = lan.addRouter(base(B, 200, { preempt: false }));
  a.router.start();
  clock.advance(4000); // A is master alone
  assert.equal(a.router.state, 'master');
  b.router.start();
  clock.advance(5000);
  // nopreempt: B (higher priority) waits as backup behind A.
  assert.equal(b.router.state, 'backup');
  assert.equal(a.router.state, 'master');

  const at = clock.now();
  const sentBefore = a.stats.sent;
  a.router.updateSettings({ preempt: false, preemptDelayMs: 2000, garp: { repeat: 2, refreshMs: 0 } });
  assert.equal(a.stats.sent, sentBefore, 'the update itself sends nothing');
  clock.advance(3000);
  assert.deepEqual(a.notifier.path, ['init>backup', 'backup>master'], 'no transition on the master');
  assert.ok(!priorities(lan, A, at).includes(0), 'no priority-0 advert');
  assert.equal(b.router.state, 'backup');

  // The backup's new preempt mode is used at the next advert it hears.
  b.router.updateSettings({ preempt: true, preemptDelayMs: 0, garp: {} });
  assert.equal(b.router.state, 'backup', 'the update itself is no transition');
  clock.advance(5000);
  assert.equal(b.router.state, 'master', 'preempt now on: the higher priority takes over');
  assert.equal(a.router.state, 'backup');
});

test('updateSettings: a GARP refresh starts, changes period without doubling, and stops', () => {
  const clock = new FakeClock(0);
  const lan = new MemoryLan(clock);
  const a = lan.addRouter(base(A, 150, { garp: { repeat: 1, delayMs: 0, refreshMs: 0 } }));
  a.router.start();
  clock.advance(4000);
  assert.equal(a.router.state, 'master');
  const after = a.garp.count;
  clock.advance(10_000);
  assert.equal(a.garp.count, after, 'no refresh configured');

  a.router.updateSettings({ preempt: true, preemptDelayMs: 0, garp: { repeat: 1, delayMs: 0, refreshMs: 1000 } });
  clock.advance(5000);
  assert.equal(a.garp.count, after + 5, 'one round a second');

  a.router.updateSettings({ preempt: true, preemptDelayMs: 0, garp: { repeat: 1, delayMs: 0, refreshMs: 2500 } });
  clock.advance(10_000);
  assert.equal(a.garp.count, after + 5 + 4, 'the old period stopped; one round every 2.5 s');

  a.router.updateSettings({ preempt: true, preemptDelayMs: 0, garp: { repeat: 1, delayMs: 0, refreshMs: 0 } });
  clock.advance(10_000);
  assert.equal(a.garp.count, after + 9, 'refresh off');
  assert.deepEqual(a.notifier.path, ['init>backup', 'backup>master']);
});

test('updateSettings rejects a negative preempt delay and changes nothing', () => {
  const clock = new FakeClock(0);
  const lan = new MemoryLan(clock);
  const a = lan.addRouter(base(A, 150, { preempt: true }));
  assert.throws(() => a.router.updateSettings({ preempt: false, preemptDelayMs: -1, garp: {} }), /preempt_delay/);
  a.router.start();
  clock.advance(4000);
  assert.equal(a.router.state, 'master');
});
