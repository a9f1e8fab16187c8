/**
 * Holds (the state machine side of keepalived's sync groups): a held master
 * steps down like a shutdown into backup; a held backup whose
 * Master_Down_Timer fires only reports that it wants master and waits; the
 * release makes a backup that wants master take over at once; hearing a
 * master it accepts withdraws the wish; init and fault ignore holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, masterDownIntervalMs, step, type RouterState, type StateMachineConfig } from '../src/index.js';

const ME = '10.0.0.2';
const PEER = '10.0.0.3';
const CFG: StateMachineConfig = { version: 3, priority: 100, advertIntervalMs: 1000, preempt: true, preemptDelayMs: 0, primaryAddr: ME };
const MDI = masterDownIntervalMs(3, 100, 1000);
const init = initialState(CFG);
const master: RouterState = { ...init, state: 'master', masterAddr: ME };
const backup: RouterState = { ...init, state: 'backup' };

test('a hold on a master: priority 0, VIPs released, backup waiting a master-down interval', () => {
  const r = step(CFG, master, { type: 'hold', reason: 'sync:G', on: true }, 5000);
  assert.equal(r.next.state, 'backup');
  assert.deepEqual(r.next.holds, ['sync:G']);
  assert.deepEqual(r.actions, [
    { type: 'cancel', timer: 'advert' },
    { type: 'send-advert', priority: 0 },
    { type: 'remove-vips' },
    { type: 'arm', timer: 'master-down', afterMs: MDI },
    { type: 'became', from: 'master', to: 'backup', reason: 'hold:sync:G' },
  ]);
});

test('a held backup whose timer fires wants master, re-arms, and does not take over', () => {
  const held = { ...backup, holds: ['sync:G'] };
  const r = step(CFG, held, { type: 'timer', timer: 'master-down' }, 0);
  assert.equal(r.next.state, 'backup');
  assert.equal(r.next.wantsMaster, true);
  assert.deepEqual(r.actions, [{ type: 'wants-master', value: true }, { type: 'arm', timer: 'master-down', afterMs: MDI }]);
  // Firing again: still waiting, no second report.
  const again = step(CFG, r.next, { type: 'timer', timer: 'master-down' }, 0);
  assert.deepEqual(again.actions, [{ type: 'arm', timer: 'master-down', afterMs: MDI }]);
});

test('the last hold released: a backup that wants master takes over at once; one that does not keeps waiting', () => {
  const wanting = { ...backup, holds: ['sync:G'], wantsMaster: true };
  const r = step(CFG, wanting, { type: 'hold', reason: 'sync:G', on: false }, 0);
  assert.equal(r.next.state, 'master');
  assert.equal(r.next.wantsMaster, false);
  assert.deepEqual(r.actions.slice(0, 2), [{ type: 'wants-master', value: false }, { type: 'cancel', timer: 'master-down' }]);
  assert.deepEqual(r.actions.at(-1), { type: 'became', from: 'backup', to: 'master', reason: 'released:sync:G' });
  const waiting = step(CFG, { ...backup, holds: ['sync:G'] }, { type: 'hold', reason: 'sync:G', on: false }, 0);
  assert.equal(waiting.next.state, 'backup');
  assert.deepEqual(waiting.actions, []);
  // Two holds: releasing one is not enough.
  const two = step(CFG, { ...wanting, holds: ['a', 'sync:G'] }, { type: 'hold', reason: 'a', on: false }, 0);
  assert.equal(two.next.state, 'backup');
});

test('a held backup that hears a master it accepts no longer wants master', () => {
  const wanting = { ...backup, holds: ['sync:G'], wantsMaster: true };
  const r = step(CFG, wanting, { type: 'advert', from: PEER, priority: 150, advertIntervalMs: 1000 }, 0);
  assert.equal(r.next.wantsMaster, false);
  assert.deepEqual(r.actions[0], { type: 'wants-master', value: false });
});

test('holds do not move a router in init or fault, and are idempotent', () => {
  const fault: RouterState = { ...init, state: 'fault', faults: ['x'] };
  for (const s of [init, fault]) {
    const r = step(CFG, s, { type: 'hold', reason: 'sync:G', on: true }, 0);
    assert.equal(r.next.state, s.state);
    assert.deepEqual(r.actions, []);
  }
  const held = { ...backup, holds: ['sync:G'] };
  assert.deepEqual(step(CFG, held, { type: 'hold', reason: 'sync:G', on: true }, 0), { next: held, actions: [] });
  // Without holds the timer makes a backup master, as before.
  assert.equal(step(CFG, backup, { type: 'timer', timer: 'master-down' }, 0).next.state, 'master');
});
