/** Track scripts: the rise/fall hysteresis and weight effect (pure, table-driven), and the runner on a fake clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, type CommandOutcome } from '@baton/core';
import {
  INITIAL_SCRIPT_STATE,
  recordScriptResult,
  scriptEffect,
  scriptSucceeded,
  startTrackScript,
  type ScriptStatus,
} from '../src/io/track-script.js';

/** Feeds results ('+' success, '-' failure) and returns the status after each. */
function run(rise: number, fall: number, results: string): ScriptStatus[] {
  let s = INITIAL_SCRIPT_STATE;
  return [...results].map((r) => {
    s = recordScriptResult({ rise, fall }, s, r === '+');
    assert.ok(s.counter >= 0 && s.counter <= rise + fall - 1, 'counter stays in [0, rise+fall-1]');
    return s.status;
  });
}

const short = (xs: ScriptStatus[]) => xs.map((x) => (x === 'ok' ? 'O' : x === 'failed' ? 'F' : '?')).join('');

test('rise/fall hysteresis', () => {
  const table: [number, number, string, string][] = [
    // rise, fall, results, expected statuses
    [2, 2, '+', 'O'], // the first result decides at once
    [2, 2, '-', 'F'],
    [2, 2, '+-+-+-', 'OOOOOO'], // single failures never reach fall=2
    [2, 2, '+--', 'OOF'], // two consecutive failures
    [2, 2, '-+-+-+', 'FFFFFF'], // single successes never reach rise=2
    [2, 2, '-++', 'FFO'],
    [3, 1, '+-', 'OF'], // fall=1: one failure is enough
    [1, 3, '-+', 'FO'], // rise=1: one success is enough
    [3, 2, '---++-+++', 'FFFFFFFFO'], // a failure resets the rise count
    [2, 3, '+--+--+---', 'OOOOOOOOOF'], // a success resets the fall count
    [1, 1, '+-+-', 'OFOF'],
  ];
  for (const [rise, fall, results, expected] of table) {
    assert.equal(short(run(rise, fall, results)), expected, `rise=${rise} fall=${fall} ${results}`);
  }
});

test('weight: 0 means fault on failure; otherwise the priority moves by the weight', () => {
  assert.deepEqual(scriptEffect(0, 'unknown'), { fault: false, priorityDelta: 0 });
  assert.deepEqual(scriptEffect(0, 'ok'), { fault: false, priorityDelta: 0 });
  assert.deepEqual(scriptEffect(0, 'failed'), { fault: true, priorityDelta: 0 });
  assert.deepEqual(scriptEffect(20, 'ok'), { fault: false, priorityDelta: 20 });
  assert.deepEqual(scriptEffect(20, 'failed'), { fault: false, priorityDelta: 0 });
  assert.deepEqual(scriptEffect(-30, 'ok'), { fault: false, priorityDelta: 0 });
  assert.deepEqual(scriptEffect(-30, 'failed'), { fault: false, priorityDelta: -30 });
  assert.deepEqual(scriptEffect(-30, 'unknown'), { fault: false, priorityDelta: 0 });
});

test('only exit status 0 is success', () => {
  assert.equal(scriptSucceeded({ kind: 'exit', code: 0, stdout: '', stderr: '', ms: 1 }), true);
  assert.equal(scriptSucceeded({ kind: 'exit', code: 1, stdout: '', stderr: '', ms: 1 }), false);
  assert.equal(scriptSucceeded({ kind: 'timeout', stdout: '', stderr: '', ms: 1 }), false);
  assert.equal(scriptSucceeded({ kind: 'signal', signal: 'SIGKILL', stdout: '', stderr: '', ms: 1 }), false);
  assert.equal(scriptSucceeded({ kind: 'spawn-error', error: 'ENOENT', ms: 1 }), false);
});

test('runner: schedules every interval on the injected clock, reports only changes, stops', async () => {
  const clock = new FakeClock();
  const results = [0, 0, 1, 1, 1, 0, 0];
  const calls: { at: number; argv: readonly string[]; timeoutMs: number }[] = [];
  const changes: [string, number][] = [];
  const settle = () => new Promise((r) => setImmediate(r));
  const script = startTrackScript({
    name: 'chk',
    command: ['/usr/local/bin/check.sh', '--fast'],
    intervalMs: 2000,
    timeoutMs: 1500,
    rise: 2,
    fall: 2,
    weight: 0,
    clock,
    onChange: (status) => changes.push([status, clock.now()]),
    run: async (argv, opts): Promise<CommandOutcome> => {
      calls.push({ at: clock.now(), argv, timeoutMs: opts.timeoutMs });
      return { kind: 'exit', code: results[calls.length - 1] ?? 0, stdout: '', stderr: '', ms: 0 };
    },
  });
  assert.equal(script.status, 'unknown');
  assert.deepEqual(script.effect(), { fault: false, priorityDelta: 0 });
  await settle();
  assert.equal(script.status, 'ok');
  for (let i = 0; i < 6; i++) {
    clock.advance(2000);
    await settle();
  }
  assert.deepEqual(
    calls.map((c) => c.at),
    [0, 2000, 4000, 6000, 8000, 10000, 12000],
  );
  assert.deepEqual(calls[0]?.argv, ['/usr/local/bin/check.sh', '--fast']);
  assert.equal(calls[0]?.timeoutMs, 1500);
  // 0 0 1 1 1 0 0 with rise=fall=2: ok at once, failed after the 2nd failure (t=6000), ok again after 2 successes (t=12000)
  assert.deepEqual(changes, [
    ['ok', 0],
    ['failed', 6000],
    ['ok', 12000],
  ]);
  script.stop();
  clock.advance(10_000);
  await settle();
  assert.equal(calls.length, 7, 'no run after stop()');
  assert.equal(clock.pending(), 0);
});

test('runner: a real failing command through runCommand', async () => {
  const seen: string[] = [];
  const script = startTrackScript({
    name: 'false',
    command: ['/bin/false'],
    intervalMs: 60_000,
    timeoutMs: 2000,
    rise: 1,
    fall: 1,
    weight: 0,
    onChange: (status, outcome) => seen.push(`${status}:${outcome.kind}`),
  });
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  script.stop();
  assert.deepEqual(seen, ['failed:exit']);
  assert.deepEqual(script.effect(), { fault: true, priorityDelta: 0 });
});
