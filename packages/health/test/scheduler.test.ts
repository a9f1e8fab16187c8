import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '@baton/core';
import { HealthScheduler, type HealthChange, type ScheduledServer } from '../src/scheduler.js';
import { failure, type CheckReason, type CheckResult, type Probe } from '../src/probe.js';

/** What a fake probe does on its n-th check. */
type Step = { afterMs: number; result: 'ok' | CheckReason } | { hang: true; ignoreAbort?: boolean };

/** A probe on the fake clock: answers after `afterMs`, or hangs until aborted. Records overlap. */
class FakeProbe implements Probe {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  active = 0;
  maxActive = 0;
  closed = false;
  constructor(
    private readonly clock: FakeClock,
    private readonly plan: (n: number) => Step,
  ) {}
  check(signal: AbortSignal): Promise<CheckResult> {
    const n = this.starts.length;
    const start = this.clock.now();
    this.starts.push(start);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const step = this.plan(n);
    return new Promise((resolve) => {
      const done = (r: CheckResult) => {
        this.active--;
        this.ends.push(this.clock.now());
        resolve(r);
      };
      if ('hang' in step) {
        if (!step.ignoreAbort) signal.addEventListener('abort', () => done(failure(this.clock.now() - start, 'l7-timeout', 'hung')));
        else this.release = () => done({ ok: true, ms: this.clock.now() - start });
        return;
      }
      const timer = this.clock.setTimeout(() => done(step.result === 'ok' ? { ok: true, ms: step.afterMs } : failure(step.afterMs, step.result, step.result)), step.afterMs);
      signal.addEventListener('abort', () => {
        this.clock.clearTimeout(timer);
        done(failure(this.clock.now() - start, 'l7-timeout', 'aborted'));
      });
    });
  }
  release?: () => void;
  async close(): Promise<void> {
    this.closed = true;
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));
/** Advances fake time 1 ms at a time, letting promise callbacks run between steps. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    clock.advance(1);
    await flush();
  }
}

const timing = { intervalMs: 1000, timeoutMs: 300, rise: 2, fall: 3 };
const ok = (afterMs = 10): Step => ({ afterMs, result: 'ok' });
const fail = (reason: CheckReason, afterMs = 10): Step => ({ afterMs, result: reason });

function setup(servers: Array<{ name: string; plan: (n: number) => Step; timing?: Partial<typeof timing> & { initial?: 'up' | 'down' } }>) {
  const clock = new FakeClock();
  const probes = new Map<string, FakeProbe>();
  const changes: HealthChange[] = [];
  const results: Array<{ server: string; at: number; result: CheckResult }> = [];
  const list: ScheduledServer[] = servers.map((s) => {
    const probe = new FakeProbe(clock, s.plan);
    probes.set(s.name, probe);
    return { name: s.name, probe, timing: { ...timing, ...s.timing } };
  });
  const scheduler = new HealthScheduler({
    servers: list,
    clock,
    onChange: (c) => changes.push(c),
    onResult: (server, result) => results.push({ server, at: clock.now(), result }),
  });
  return { clock, probes, changes, results, scheduler };
}

test('scheduler: starts down and goes up after rise successes, one change event', async () => {
  const { clock, changes, scheduler } = setup([{ name: 'a', plan: () => ok() }]);
  assert.equal(scheduler.get('a')?.state, 'down');
  scheduler.start();
  await advance(clock, 20);
  assert.equal(scheduler.get('a')?.state, 'down', 'one success is not enough with rise 2');
  await advance(clock, 1000);
  assert.equal(scheduler.get('a')?.state, 'up');
  await advance(clock, 5000);
  assert.equal(changes.length, 1);
  assert.deepEqual({ ...changes[0], result: undefined }, { server: 'a', from: 'down', to: 'up', label: 'ok', detail: '2 consecutive successful checks', result: undefined, atMs: 1010 });
  await scheduler.stop();
});

test('scheduler: initial up stays up, goes down after fall failures with the reason', async () => {
  const { clock, changes, scheduler } = setup([{ name: 'a', plan: (n) => (n < 2 ? ok() : fail('l4-refused', 5)), timing: { initial: 'up' } }]);
  scheduler.start();
  assert.equal(scheduler.get('a')?.state, 'up');
  await advance(clock, 4000);
  // failures at 2005, 3005 keep it up (fall 3); the third at 4005 takes it down.
  assert.equal(scheduler.get('a')?.state, 'up');
  await advance(clock, 10);
  assert.equal(scheduler.get('a')?.state, 'down');
  assert.equal(changes.length, 1);
  assert.equal(changes[0]!.label, 'l4-refused');
  assert.equal(changes[0]!.atMs, 4005);
  await advance(clock, 5000);
  assert.equal(changes.length, 1, 'further failures emit nothing');
  await scheduler.stop();
});

test('scheduler: first checks are staggered across the interval', async () => {
  const { clock, probes, scheduler } = setup(['a', 'b', 'c', 'd'].map((name) => ({ name, plan: () => ok() })));
  scheduler.start();
  await advance(clock, 1001);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => probes.get(n)!.starts[0]), [0, 250, 500, 750]);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => probes.get(n)!.starts[1]), [1000, 1250, 1500, 1750].map((t) => (t <= 1001 ? t : undefined)));
  await scheduler.stop();
});

test('scheduler: a hanging check is a timeout at timeoutMs, never overlaps, and delays no other server', async () => {
  const { clock, probes, results, scheduler } = setup([
    { name: 'hang', plan: () => ({ hang: true }) },
    { name: 'fine', plan: () => ok(5) },
  ]);
  scheduler.start();
  await advance(clock, 4999);
  const hang = probes.get('hang')!;
  const fine = probes.get('fine')!;
  assert.equal(hang.maxActive, 1, 'never two checks at once');
  assert.deepEqual(hang.starts, [0, 1000, 2000, 3000, 4000]);
  const hangResults = results.filter((r) => r.server === 'hang');
  assert.deepEqual(hangResults.map((r) => r.at), [300, 1300, 2300, 3300, 4300]);
  assert.ok(hangResults.every((r) => !r.result.ok && r.result.reason === 'l7-timeout'));
  assert.deepEqual(fine.starts, [500, 1500, 2500, 3500, 4500], 'the other server keeps its own cadence');
  assert.equal(scheduler.get('fine')?.state, 'up');
  assert.equal(scheduler.get('hang')?.state, 'down');
  await scheduler.stop();
});

test('scheduler: a check slower than the interval is followed at once, not overlapped', async () => {
  const { clock, probes, scheduler } = setup([{ name: 'slow', plan: () => ok(250), timing: { intervalMs: 200, timeoutMs: 1000 } }]);
  scheduler.start();
  await advance(clock, 1000);
  const p = probes.get('slow')!;
  assert.equal(p.maxActive, 1);
  assert.deepEqual(p.starts, [0, 250, 500, 750]);
  await scheduler.stop();
});

test('scheduler: timeout longer than interval: quick checks keep the interval, hung ones run back to back every timeout, never overlapping', async () => {
  const t = { intervalMs: 200, timeoutMs: 500, fall: 3, initial: 'up' as const };
  const { clock, probes, results, changes, scheduler } = setup([
    { name: 'hang', plan: () => ({ hang: true }), timing: t },
    { name: 'slow', plan: () => ok(350), timing: t },
    { name: 'quick', plan: () => ok(5), timing: t },
  ]);
  scheduler.start();
  await advance(clock, 2100);
  const hang = probes.get('hang')!;
  assert.equal(hang.maxActive, 1, 'never two checks of one server at once');
  assert.deepEqual(hang.starts, [0, 500, 1000, 1500, 2000], 'each next check starts when the previous one timed out');
  assert.deepEqual(results.filter((r) => r.server === 'hang').map((r) => r.at), [500, 1000, 1500, 2000]);
  const down = changes.find((c) => c.server === 'hang' && c.to === 'down');
  assert.equal(down?.atMs, 3 * t.timeoutMs, 'down after fall × timeout');
  assert.equal(down?.label, 'l7-timeout');
  // Slower than the interval but within the timeout: back to back, each a success.
  const slow = probes.get('slow')!;
  assert.equal(slow.maxActive, 1);
  const first = slow.starts[0]!;
  assert.deepEqual(slow.starts, [0, 1, 2, 3, 4, 5].map((i) => first + i * 350).filter((x) => x <= 2100));
  assert.ok(results.filter((r) => r.server === 'slow').every((r) => r.result.ok));
  // Quick checks keep the interval.
  const quick = probes.get('quick')!;
  const q0 = quick.starts[0]!;
  assert.deepEqual(quick.starts, Array.from({ length: 11 }, (_, i) => q0 + i * 200).filter((x) => x <= 2100));
  assert.equal(scheduler.get('quick')?.state, 'up');
  await scheduler.stop();
});

test('scheduler: a late success after the deadline counts as a timeout', async () => {
  const clock = new FakeClock();
  const results: CheckResult[] = [];
  // A probe that ignores its signal and answers ok after 400 ms (timeout 300).
  const probe: Probe = {
    check: () => new Promise((r) => clock.setTimeout(() => r({ ok: true, ms: 400 }), 400)),
    close: async () => {},
  };
  const scheduler = new HealthScheduler({ servers: [{ name: 'x', probe, timing }], clock, onResult: (_s, r) => results.push(r), abortGraceMs: 1000 });
  scheduler.start();
  await advance(clock, 500);
  assert.equal(results.length, 1);
  assert.equal(results[0]!.ok, false);
  assert.equal(!results[0]!.ok && results[0]!.reason, 'l7-timeout');
  await scheduler.stop();
});

test('scheduler: a probe that ignores the abort is recorded failed after the grace, and not checked again until it settles', async () => {
  const { clock, probes, results, scheduler } = setup([{ name: 'stuck', plan: (n) => (n === 0 ? { hang: true, ignoreAbort: true } : ok()) }]);
  scheduler.start();
  await advance(clock, 1400);
  assert.equal(results.length, 1, 'recorded at timeout + grace (300 + 1000)');
  assert.equal(results[0]!.at, 1300);
  assert.equal(!results[0]!.result.ok && results[0]!.result.reason, 'l7-timeout');
  await advance(clock, 3000);
  const p = probes.get('stuck')!;
  assert.equal(p.starts.length, 1, 'no second check while the first is still running');
  p.release!();
  await flush();
  assert.equal(results.length, 1, 'the late settle of the recorded check is not counted twice');
  await advance(clock, 1);
  assert.equal(p.starts.length, 2, 'checked again at once after it settled (interval long past)');
  await scheduler.stop();
});

test('scheduler: stop cancels timers, aborts running checks and closes probes', async () => {
  const { clock, probes, scheduler } = setup([{ name: 'h', plan: () => ({ hang: true }) }]);
  scheduler.start();
  await advance(clock, 100);
  assert.equal(probes.get('h')!.active, 1);
  await scheduler.stop();
  assert.equal(probes.get('h')!.active, 0);
  assert.equal(probes.get('h')!.closed, true);
  assert.equal(clock.pending(), 0);
});

test('scheduler: a throwing listener does not stop the checks; a rejecting probe is an l7-error value', async () => {
  const clock = new FakeClock();
  let n = 0;
  const probe: Probe = {
    check: () => (n++ % 2 === 0 ? Promise.reject(new Error('bug')) : Promise.resolve({ ok: true, ms: 1 })),
    close: async () => {},
  };
  const seen: CheckResult[] = [];
  const scheduler = new HealthScheduler({
    servers: [{ name: 'x', probe, timing }],
    clock,
    onResult: (_s, r) => {
      seen.push(r);
      throw new Error('listener bug');
    },
  });
  scheduler.start();
  await advance(clock, 3500);
  assert.equal(seen.length, 4);
  assert.equal(!seen[0]!.ok && seen[0]!.reason, 'l7-error');
  assert.equal(seen[1]!.ok, true);
  await scheduler.stop();
});

test('scheduler: info is kept from the latest result that carried it', async () => {
  const clock = new FakeClock();
  let n = 0;
  const probe: Probe = {
    check: async () => (n++ === 0 ? { ok: true, ms: 1, info: { galeraIndex: 2 } } : failure(1, 'l4-refused', 'refused')),
    close: async () => {},
  };
  const scheduler = new HealthScheduler({ servers: [{ name: 'x', probe, timing }], clock });
  scheduler.start();
  await advance(clock, 1500);
  assert.deepEqual(scheduler.get('x')?.info, { galeraIndex: 2 });
  assert.equal(scheduler.get('x')?.checks, 2);
  await scheduler.stop();
});

test('scheduler: rejects bad timing and duplicate names', () => {
  const probe: Probe = { check: async () => ({ ok: true, ms: 0 }), close: async () => {} };
  assert.throws(() => new HealthScheduler({ servers: [{ name: 'a', probe, timing: { ...timing, rise: 0 } }] }));
  assert.throws(() => new HealthScheduler({ servers: [{ name: 'a', probe, timing }, { name: 'a', probe, timing }] }));
});
