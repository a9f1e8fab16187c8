/**
 * Three VRRP routers on an in-memory LAN and one FakeClock: elections,
 * crash and graceful failover with exact timings, preemption variants,
 * equal priorities, split brain and heal, fault and weight tracking.
 *
 * A = 10.0.0.1 prio 150, B = 10.0.0.2 prio 100, C = 10.0.0.3 prio 50;
 * VRRPv3, 1 s interval, zero latency unless a test says otherwise.
 * Master_Down_Interval = 3 s + (256 - prio)/256 s; Skew_Time = (256 - prio)/256 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '@baton/core';
import { MemoryLan, type LanNode, type RouterConfig, type VrrpState } from '../src/index.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const C = '10.0.0.3';
const MDI = (prio: number) => 3000 + ((256 - prio) * 1000) / 256;
const SKEW = (prio: number) => ((256 - prio) * 1000) / 256;

function base(addr: string, priority: number): RouterConfig {
  return { name: 'VI_1', vrid: 51, version: 3, priority, advertIntervalMs: 1000, primaryAddr: addr, virtualIps: ['10.0.0.100/24'] };
}

function lan3(over: { a?: Partial<RouterConfig>; b?: Partial<RouterConfig>; c?: Partial<RouterConfig>; all?: Partial<RouterConfig> } = {}, latencyMs = 0) {
  const clock = new FakeClock(0);
  const lan = new MemoryLan(clock, latencyMs);
  const a = lan.addRouter({ ...base(A, 150), ...over.all, ...over.a });
  const b = lan.addRouter({ ...base(B, 100), ...over.all, ...over.b });
  const c = lan.addRouter({ ...base(C, 50), ...over.all, ...over.c });
  const nodes = [a, b, c];
  return { clock, lan, a, b, c, nodes };
}

const states = (nodes: LanNode[]): VrrpState[] => nodes.map((n) => n.router.state);
const masters = (nodes: LanNode[]) => nodes.filter((n) => n.router.state === 'master').map((n) => n.addr);
const lastBecame = (n: LanNode, to: VrrpState) => n.notifier.changes.filter((c) => c.to === to).at(-1);

/** Times at which `src` put an advert of `priority` on the wire, up to `beforeMs` (exclusive). */
function advertTimes(lan: MemoryLan, src: string, priority: number, beforeMs = Infinity): number[] {
  return lan.packets
    .filter((p) => p.srcAddr === src && p.atMs < beforeMs && p.payload[2] === priority)
    .map((p) => p.atMs);
}

function startAll(nodes: LanNode[]) {
  for (const n of nodes) n.router.start();
}

/** Elect A and run 10.5 s more, so the LAN is in steady state at a time between adverts. */
function elected() {
  const t = lan3();
  startAll(t.nodes);
  t.clock.advance(MDI(150) + 10_500);
  assert.deepEqual(masters(t.nodes), [A]);
  return t;
}

test('election: the highest priority becomes master after its Master_Down_Interval', () => {
  const t = lan3();
  startAll(t.nodes);
  assert.deepEqual(states(t.nodes), ['backup', 'backup', 'backup']);
  t.clock.advance(MDI(150) - 0.0625);
  assert.deepEqual(masters(t.nodes), []);
  t.clock.advance(0.0625);
  assert.deepEqual(states(t.nodes), ['master', 'backup', 'backup']);
  assert.equal(lastBecame(t.a, 'master')?.atMs, 3414.0625);
  t.clock.advance(60_000);
  assert.deepEqual(states(t.nodes), ['master', 'backup', 'backup']);
  assert.deepEqual(t.nodes.map((n) => n.vips.owned), [true, false, false]);
  assert.deepEqual(t.nodes.map((n) => n.router.masterAddr), [A, A, A]);
  assert.deepEqual(t.b.notifier.path, ['init>backup']);
  assert.equal(t.b.stats.received, 61);
});

test('SIGKILL-like silence: B takes over exactly Master_Down_Interval after the last advert heard', () => {
  const t = elected();
  const killedAt = t.clock.now();
  t.lan.setSilenced(A, true);
  const last = Math.max(...advertTimes(t.lan, A, 150, killedAt + 0.001));
  t.clock.advance(5000);
  assert.equal(lastBecame(t.b, 'master')?.atMs, last + MDI(100));
  assert.equal(lastBecame(t.b, 'master')?.reason, 'master-down-timer');
  assert.deepEqual(states([t.b, t.c]), ['master', 'backup']);
  assert.equal(t.c.router.masterAddr, B);
});

test('graceful shutdown: priority 0, B takes over after exactly Skew_Time, C stays backup', async () => {
  const t = elected();
  const stopAt = t.clock.now();
  await t.a.router.shutdown();
  assert.equal(t.lan.packets.at(-1)?.payload[2], 0);
  assert.equal(t.a.vips.owned, false);
  t.clock.advance(2000);
  assert.equal(lastBecame(t.b, 'master')?.atMs, stopAt + SKEW(100)); // 609.375 ms, as keepalived in the capture
  assert.equal(lastBecame(t.b, 'master')?.reason, 'master-released');
  assert.deepEqual(states(t.nodes), ['init', 'master', 'backup']);
  assert.deepEqual(t.c.notifier.path, ['init>backup']);
  assert.deepEqual(t.a.notifier.path, ['init>backup', 'backup>master', 'master>init']);
});

/** A shut down, B master; returns when B has been master 5 s. */
async function bMaster(over: Parameters<typeof lan3>[0] = {}) {
  const t = lan3(over);
  startAll(t.nodes);
  t.clock.advance(MDI(150) + 10_500);
  await t.a.router.shutdown();
  t.clock.advance(5000);
  assert.deepEqual(masters(t.nodes), [B]);
  return t;
}

test('preempt: a returning higher priority takes over after its Master_Down_Interval', async () => {
  const t = await bMaster();
  const back = t.clock.now();
  t.a.router.start();
  t.clock.advance(MDI(150) - 0.0625);
  assert.deepEqual(states(t.nodes), ['backup', 'master', 'backup']);
  t.clock.advance(0.0625);
  assert.deepEqual(states(t.nodes), ['master', 'backup', 'backup']);
  assert.equal(lastBecame(t.a, 'master')?.atMs, back + MDI(150));
  assert.equal(lastBecame(t.a, 'master')?.reason, 'preempt');
  assert.equal(lastBecame(t.b, 'backup')?.atMs, back + MDI(150), 'B steps down on the first advert');
  assert.deepEqual(t.nodes.map((n) => n.vips.owned), [true, false, false]);
});

test('nopreempt: a returning higher priority stays backup', async () => {
  const t = await bMaster({ a: { preempt: false } });
  t.a.router.start();
  t.clock.advance(120_000);
  assert.deepEqual(states(t.nodes), ['backup', 'master', 'backup']);
});

test('preempt_delay: the lower master is tolerated for the delay, then preempted', async () => {
  const t = await bMaster({ a: { preemptDelayMs: 10_000 } });
  const back = t.clock.now();
  t.a.router.start();
  t.clock.advance(10_000);
  assert.equal(t.a.router.state, 'backup');
  const lastAccepted = Math.max(...advertTimes(t.lan, B, 100, back + 10_000));
  t.clock.advance(5000);
  assert.equal(lastBecame(t.a, 'master')?.atMs, lastAccepted + MDI(150));
  assert.deepEqual(masters(t.nodes), [A]);
});

test('equal priorities: the higher primary address wins', () => {
  const t = lan3({ all: { priority: 100 } });
  startAll(t.nodes);
  t.clock.advance(MDI(100));
  t.clock.advance(2000);
  assert.deepEqual(masters(t.nodes), [C]);
  assert.deepEqual(t.nodes.map((n) => n.vips.owned), [false, false, true]);
  for (const n of [t.a, t.b]) {
    assert.deepEqual(n.notifier.path, ['init>backup', 'backup>master', 'master>backup']);
    assert.equal(lastBecame(n, 'backup')?.reason, 'equal-priority-higher-address');
  }
});

test('equal priorities with 5 ms latency: still one master, the highest address', () => {
  const t = lan3({ all: { priority: 100 } }, 5);
  startAll(t.nodes);
  t.clock.advance(MDI(100) + 2000);
  assert.deepEqual(masters(t.nodes), [C]);
});

test('split brain and heal: two masters while cut, one master within 2 intervals of healing', () => {
  const t = elected();
  t.lan.cut([A], [B, C]);
  t.clock.advance(5000);
  assert.deepEqual(masters(t.nodes), [A, B]);
  assert.deepEqual(t.nodes.map((n) => n.vips.owned), [true, true, false]);
  assert.equal(t.c.router.masterAddr, B);
  t.lan.heal();
  t.clock.advance(2000);
  assert.deepEqual(masters(t.nodes), [A]);
  assert.deepEqual(t.nodes.map((n) => n.vips.owned), [true, false, false]);
  assert.equal(lastBecame(t.b, 'backup')?.reason, 'higher-priority-advert');
  assert.equal(t.c.router.masterAddr, A);
  t.clock.advance(30_000);
  assert.deepEqual(masters(t.nodes), [A]);
});

test('split brain where the lower side heals first: the master hearing a lower priority answers at once', () => {
  const t = elected();
  t.lan.cut([A], [B, C]);
  t.clock.advance(5000);
  // heal right after B advertised: A hears B (lower) first and answers at once
  const bLast = Math.max(...advertTimes(t.lan, B, 100));
  t.clock.advance(bLast + 1000 - t.clock.now() - 0.5);
  t.lan.heal();
  t.clock.advance(0.5);
  assert.deepEqual(masters(t.nodes), [A]);
  assert.equal(lastBecame(t.b, 'backup')?.atMs, bLast + 1000);
});

test('fault and recover: a master in fault releases at once, and preempts again once recovered', () => {
  const t = elected();
  const faultAt = t.clock.now();
  t.a.router.setFault('interface:eth0', true);
  assert.equal(t.a.router.state, 'fault');
  assert.equal(t.a.vips.owned, false);
  t.clock.advance(SKEW(100));
  assert.deepEqual(masters(t.nodes), [B]);
  assert.equal(lastBecame(t.b, 'master')?.atMs, faultAt + SKEW(100));
  t.clock.advance(20_000);
  assert.equal(t.a.router.state, 'fault');
  const recoverAt = t.clock.now();
  t.a.router.setFault('interface:eth0', false);
  t.clock.advance(MDI(150));
  assert.deepEqual(masters(t.nodes), [A]);
  assert.equal(lastBecame(t.a, 'master')?.atMs, recoverAt + MDI(150));
  assert.deepEqual(t.a.notifier.path, ['init>backup', 'backup>master', 'master>fault', 'fault>backup', 'backup>master']);
});

test('weight tracking: a failed weighted script hands over, its recovery takes back', () => {
  const t = elected();
  const dropAt = t.clock.now();
  const lastHigh = Math.max(...advertTimes(t.lan, A, 150, dropAt + 0.001));
  t.a.router.adjustPriority(-60); // 150 -> 90, below B
  assert.equal(t.lan.packets.at(-1)?.payload[2], 90, 'A advertises its new priority at once');
  t.clock.advance(5000);
  assert.deepEqual(masters(t.nodes), [B]);
  assert.equal(lastBecame(t.b, 'master')?.atMs, lastHigh + MDI(100));
  assert.equal(lastBecame(t.b, 'master')?.reason, 'preempt');
  assert.equal(t.a.router.state, 'backup');
  t.clock.advance(10_250);
  const upAt = t.clock.now();
  t.a.router.adjustPriority(60);
  const lastB = Math.max(...advertTimes(t.lan, B, 100, upAt + 0.001));
  t.clock.advance(5000);
  assert.deepEqual(masters(t.nodes), [A]);
  // the running master-down timer was armed while A had priority 90: its Skew_Time is 90's
  assert.equal(lastBecame(t.a, 'master')?.atMs, lastB + MDI(90));
});

test('VRRPv2 with a password: election and graceful failover, same timings', async () => {
  const t = lan3({ all: { version: 2, authPass: 'pw' } });
  startAll(t.nodes);
  t.clock.advance(MDI(150));
  assert.deepEqual(masters(t.nodes), [A]);
  t.clock.advance(2500);
  const stopAt = t.clock.now();
  await t.a.router.shutdown();
  t.clock.advance(SKEW(100));
  assert.deepEqual(masters(t.nodes), [B]);
  assert.equal(lastBecame(t.b, 'master')?.atMs, stopAt + SKEW(100));
  assert.equal(t.c.stats.dropped.size, 0);
});

test('a node with the wrong password is not heard, and counts the drops', () => {
  const t = lan3({ all: { version: 2, authPass: 'pw' }, c: { authPass: 'other', priority: 200 } });
  startAll(t.nodes);
  t.clock.advance(MDI(150) + 5000);
  // C cannot hear A and A cannot hear C: both believe they are master
  assert.deepEqual(masters(t.nodes), [A, C]);
  assert.ok((t.c.stats.dropped.get('bad-auth') ?? 0) > 0);
  assert.ok((t.a.stats.dropped.get('bad-auth') ?? 0) > 0);
});

test('rolling config change that adds a VIP: while A and B differ there is still one master', () => {
  const VIP2 = '10.0.0.101/24';
  // B already runs the new config (an extra VIP); A and C still run the old one.
  const t = lan3({ b: { virtualIps: ['10.0.0.100/24', VIP2] } });
  startAll(t.nodes);
  t.clock.advance(MDI(150) + 20_000);
  assert.deepEqual(masters(t.nodes), [A]);
  assert.deepEqual(states(t.nodes), ['master', 'backup', 'backup']);
  assert.ok(t.b.stats.addressMismatches > 15, 'B counts every advert from A');
  assert.equal(t.b.stats.dropped.size, 0);
  // A fails: B (the next priority) takes over, and C, with the old list, follows B
  t.lan.setSilenced(A, true);
  t.clock.advance(MDI(100) + 10_000);
  assert.deepEqual(states(t.nodes).slice(1), ['master', 'backup']);
  assert.ok(t.c.stats.addressMismatches > 5, 'C hears B despite the extra VIP');
});
