import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialHysteresis, stateOf, stepHysteresis, type HealthState, type HysteresisConfig } from '../src/hysteresis.js';

/** Runs a sequence like '++-+' ('+' success, '-' failure); returns the state after each step and where it changed. */
function play(cfg: HysteresisConfig, initial: HealthState, seq: string): { states: string; changes: number[]; counters: number[] } {
  let s = initialHysteresis(cfg, initial);
  let states = '';
  const changes: number[] = [];
  const counters: number[] = [];
  [...seq].forEach((c, i) => {
    const r = stepHysteresis(cfg, s, c === '+');
    s = r.next;
    states += r.state === 'up' ? 'U' : 'D';
    counters.push(s.counter);
    if (r.changed) changes.push(i);
    assert.ok(s.counter >= 0 && s.counter <= cfg.rise + cfg.fall - 1, 'counter stays in [0, rise+fall-1]');
    assert.equal(stateOf(cfg, s), r.state);
  });
  return { states, changes, counters };
}

const table: Array<{ name: string; cfg: HysteresisConfig; initial: HealthState; seq: string; states: string; changes: number[] }> = [
  { name: 'starts down, up after rise successes', cfg: { rise: 2, fall: 3 }, initial: 'down', seq: '+++', states: 'DUU', changes: [1] },
  { name: 'rise 1 goes up at once', cfg: { rise: 1, fall: 1 }, initial: 'down', seq: '+-+', states: 'UDU', changes: [0, 1, 2] },
  { name: 'up goes down after fall consecutive failures', cfg: { rise: 2, fall: 3 }, initial: 'up', seq: '---', states: 'UUD', changes: [2] },
  { name: 'a success while up restores the full margin', cfg: { rise: 2, fall: 3 }, initial: 'up', seq: '--+--+---', states: 'UUUUUUUUD', changes: [8] },
  { name: 'a failure while rising restarts the count', cfg: { rise: 3, fall: 2 }, initial: 'down', seq: '++-++-+++', states: 'DDDDDDDDU', changes: [8] },
  { name: 'flapping never changes state (from down)', cfg: { rise: 2, fall: 2 }, initial: 'down', seq: '+-+-+-+-+-', states: 'DDDDDDDDDD', changes: [] },
  { name: 'flapping never changes state (from up)', cfg: { rise: 2, fall: 2 }, initial: 'up', seq: '-+-+-+-+-+', states: 'UUUUUUUUUU', changes: [] },
  { name: 'fall 1: one failure is enough', cfg: { rise: 2, fall: 1 }, initial: 'up', seq: '-++', states: 'DDU', changes: [0, 2] },
  { name: 'full cycle up, down, up', cfg: { rise: 2, fall: 2 }, initial: 'down', seq: '++--++', states: 'DUUDDU', changes: [1, 3, 5] },
  { name: 'failures while down stay down without events', cfg: { rise: 2, fall: 2 }, initial: 'down', seq: '----', states: 'DDDD', changes: [] },
];

for (const row of table) {
  test(`hysteresis: ${row.name} (rise ${row.cfg.rise}, fall ${row.cfg.fall}, ${row.initial}, ${row.seq})`, () => {
    const got = play(row.cfg, row.initial, row.seq);
    assert.equal(got.states, row.states);
    assert.deepEqual(got.changes, row.changes);
  });
}

test('hysteresis: the counter follows the HAProxy model', () => {
  // rise 2, fall 3: range [0, 4]; up iff >= 2.
  assert.deepEqual(play({ rise: 2, fall: 3 }, 'down', '+++---').counters, [1, 4, 4, 3, 2, 0]);
  assert.equal(initialHysteresis({ rise: 2, fall: 3 }, 'up').counter, 4);
  assert.equal(initialHysteresis({ rise: 2, fall: 3 }, 'down').counter, 0);
});

test('hysteresis: a long random sequence changes state exactly when the run lengths say so', () => {
  const cfg = { rise: 3, fall: 2 };
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let seq = '';
  for (let i = 0; i < 2000; i++) seq += rnd() < 0.6 ? '+' : '-';
  const got = play(cfg, 'down', seq);
  // Reference: count consecutive runs directly.
  let up = false;
  let run = 0;
  let last = '';
  let expected = '';
  for (const c of seq) {
    run = c === last ? run + 1 : 1;
    last = c;
    if (!up && c === '+' && run >= cfg.rise) up = true;
    if (up && c === '-' && run >= cfg.fall) up = false;
    expected += up ? 'U' : 'D';
  }
  assert.equal(got.states, expected);
});
