/**
 * Table tests of every transition of the pure state machine: each row is
 * (config, state, event, now) -> (expected state fields, exact actions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  initialState,
  step,
  effectivePriority,
  skewTimeMs,
  masterDownIntervalMs,
  type RouterState,
  type StateMachineConfig,
  type VrrpAction,
  type VrrpEvent,
} from '../src/index.js';

const ME = '10.0.0.2';
const LOWER_ADDR = '10.0.0.1';
const HIGHER_ADDR = '10.0.0.3';

const V3: StateMachineConfig = { version: 3, priority: 100, advertIntervalMs: 1000, preempt: true, preemptDelayMs: 0, primaryAddr: ME };
const V2: StateMachineConfig = { ...V3, version: 2 };
const OWNER: StateMachineConfig = { ...V3, priority: 255 };

const MDI_100 = 3000 + (156 * 1000) / 256; // 3609.375
const SKEW_100 = (156 * 1000) / 256; // 609.375

const init = initialState(V3);
const backup: RouterState = { ...init, state: 'backup', masterAddr: HIGHER_ADDR, masterPriority: 150 };
const master: RouterState = { ...init, state: 'master', masterAddr: ME };
const fault: RouterState = { ...init, state: 'fault', faults: ['eth0'] };

const advert = (priority: number, from = HIGHER_ADDR, advertIntervalMs = 1000): VrrpEvent => ({ type: 'advert', from, priority, advertIntervalMs });
const becameMaster = (from: RouterState['state'], priority: number, reason: string): VrrpAction[] => [
  ...(from === 'backup' ? [{ type: 'cancel', timer: 'master-down' } as const] : []),
  { type: 'add-vips' },
  { type: 'send-advert', priority },
  { type: 'send-garp' },
  { type: 'arm', timer: 'advert', afterMs: 1000 },
  { type: 'became', from, to: 'master', reason },
];
const releaseMaster: VrrpAction[] = [
  { type: 'cancel', timer: 'advert' },
  { type: 'send-advert', priority: 0 },
  { type: 'remove-vips' },
];

interface Row {
  name: string;
  cfg?: StateMachineConfig;
  from: RouterState;
  event: VrrpEvent;
  now?: number;
  expect: Partial<RouterState>;
  actions: VrrpAction[];
}

const rows: Row[] = [
  // ---- init (RFC 5798 §6.4.1) ----
  {
    name: 'init + startup -> backup, Master_Down_Timer = Master_Down_Interval',
    from: init,
    event: { type: 'startup' },
    expect: { state: 'backup', masterAdverIntervalMs: 1000 },
    actions: [
      { type: 'arm', timer: 'master-down', afterMs: MDI_100 },
      { type: 'became', from: 'init', to: 'backup', reason: 'startup' },
    ],
  },
  {
    name: 'init + startup, owner (255) -> master at once',
    cfg: OWNER,
    from: init,
    event: { type: 'startup' },
    expect: { state: 'master', masterAddr: ME },
    actions: becameMaster('init', 255, 'address-owner'),
  },
  {
    name: 'init + startup with an active fault -> fault',
    from: { ...init, faults: ['eth0'] },
    event: { type: 'startup' },
    expect: { state: 'fault' },
    actions: [{ type: 'became', from: 'init', to: 'fault', reason: 'fault:eth0' }],
  },
  {
    name: 'init + startup with preempt_delay starts the delay',
    cfg: { ...V3, preemptDelayMs: 5000 },
    from: init,
    event: { type: 'startup' },
    now: 100,
    expect: { state: 'backup', preemptAtMs: 5100 },
    actions: [
      { type: 'arm', timer: 'master-down', afterMs: MDI_100 },
      { type: 'became', from: 'init', to: 'backup', reason: 'startup' },
    ],
  },
  { name: 'init + advert is ignored', from: init, event: advert(150), expect: { state: 'init' }, actions: [] },
  { name: 'init + timer is ignored', from: init, event: { type: 'timer', timer: 'master-down' }, expect: { state: 'init' }, actions: [] },
  { name: 'init + shutdown is a no-op', from: init, event: { type: 'shutdown' }, expect: { state: 'init' }, actions: [] },
  { name: 'init + fault is recorded', from: init, event: { type: 'fault', reason: 'eth0' }, expect: { state: 'init', faults: ['eth0'] }, actions: [] },
  { name: 'init + recover of an unknown fault', from: init, event: { type: 'recover', reason: 'eth0' }, expect: { state: 'init', faults: [] }, actions: [] },
  { name: 'init + priority change is recorded', from: init, event: { type: 'priority-change', delta: -10 }, expect: { priorityDelta: -10 }, actions: [] },

  // ---- backup (RFC 5798 §6.4.2) ----
  {
    name: 'backup + Master_Down_Timer -> master',
    from: backup,
    event: { type: 'timer', timer: 'master-down' },
    expect: { state: 'master', masterAddr: ME, masterPriority: null },
    actions: becameMaster('backup', 100, 'master-down-timer'),
  },
  {
    name: 'backup + Master_Down_Timer after a priority-0 advert -> master (master-released)',
    from: { ...backup, masterReleased: true },
    event: { type: 'timer', timer: 'master-down' },
    expect: { state: 'master', masterReleased: false },
    actions: becameMaster('backup', 100, 'master-released'),
  },
  {
    name: 'backup + Master_Down_Timer after discarding a lower master -> master (preempt)',
    from: { ...backup, masterPriority: 50, masterAddr: LOWER_ADDR },
    event: { type: 'timer', timer: 'master-down' },
    expect: { state: 'master' },
    actions: becameMaster('backup', 100, 'preempt'),
  },
  { name: 'backup + stale advert timer is ignored', from: backup, event: { type: 'timer', timer: 'advert' }, expect: { state: 'backup' }, actions: [] },
  {
    name: 'backup + higher-priority advert: restart Master_Down_Timer',
    from: backup,
    event: advert(150),
    expect: { state: 'backup', masterAddr: HIGHER_ADDR, masterPriority: 150 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + equal-priority advert from a lower address: still accepted (only masters compare addresses)',
    from: backup,
    event: advert(100, LOWER_ADDR),
    expect: { state: 'backup', masterAddr: LOWER_ADDR },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + v3 advert with another interval: adopt Master_Adver_Interval',
    from: backup,
    event: advert(150, HIGHER_ADDR, 200),
    expect: { masterAdverIntervalMs: 200 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: 600 + (156 * 200) / 256 }],
  },
  {
    name: 'backup + v2 advert: interval stays ours, Skew_Time in seconds',
    cfg: V2,
    from: backup,
    event: advert(150, HIGHER_ADDR, 1000),
    expect: { masterAdverIntervalMs: 1000 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + lower-priority advert with preempt: discarded, timer keeps running',
    from: backup,
    event: advert(50, LOWER_ADDR),
    expect: { state: 'backup', masterAddr: LOWER_ADDR, masterPriority: 50 },
    actions: [],
  },
  {
    name: 'backup + lower-priority advert with nopreempt: accepted',
    cfg: { ...V3, preempt: false },
    from: backup,
    event: advert(50, LOWER_ADDR),
    expect: { masterAddr: LOWER_ADDR, masterPriority: 50 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + lower-priority advert, preempt_delay not started: start it and accept',
    cfg: { ...V3, preemptDelayMs: 5000 },
    from: { ...backup, preemptAtMs: null },
    event: advert(50, LOWER_ADDR),
    now: 1000,
    expect: { preemptAtMs: 6000, masterPriority: 50 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + lower-priority advert within preempt_delay: accepted',
    cfg: { ...V3, preemptDelayMs: 5000 },
    from: { ...backup, preemptAtMs: 6000 },
    event: advert(50, LOWER_ADDR),
    now: 5999,
    expect: { preemptAtMs: 6000 },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + lower-priority advert after preempt_delay: discarded',
    cfg: { ...V3, preemptDelayMs: 5000 },
    from: { ...backup, preemptAtMs: 6000 },
    event: advert(50, LOWER_ADDR),
    now: 6000,
    expect: { preemptAtMs: 6000, masterPriority: 50 },
    actions: [],
  },
  {
    name: 'backup + higher-priority advert stops preempt_delay',
    cfg: { ...V3, preemptDelayMs: 5000 },
    from: { ...backup, preemptAtMs: 6000 },
    event: advert(150),
    now: 2000,
    expect: { preemptAtMs: null },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: MDI_100 }],
  },
  {
    name: 'backup + priority-0 advert: Master_Down_Timer = Skew_Time',
    from: backup,
    event: advert(0),
    expect: { state: 'backup', masterReleased: true },
    actions: [{ type: 'arm', timer: 'master-down', afterMs: SKEW_100 }],
  },
  {
    name: 'backup + shutdown -> init',
    from: backup,
    event: { type: 'shutdown' },
    expect: { state: 'init', masterAddr: null },
    actions: [
      { type: 'cancel', timer: 'master-down' },
      { type: 'became', from: 'backup', to: 'init', reason: 'shutdown' },
    ],
  },
  {
    name: 'backup + fault -> fault',
    from: backup,
    event: { type: 'fault', reason: 'script:chk' },
    expect: { state: 'fault', faults: ['script:chk'] },
    actions: [
      { type: 'cancel', timer: 'master-down' },
      { type: 'became', from: 'backup', to: 'fault', reason: 'fault:script:chk' },
    ],
  },
  { name: 'backup + priority change: no action now', from: backup, event: { type: 'priority-change', delta: 20 }, expect: { priorityDelta: 20 }, actions: [] },

  // ---- master (RFC 5798 §6.4.3) ----
  {
    name: 'master + Adver_Timer: send an advert and restart',
    from: master,
    event: { type: 'timer', timer: 'advert' },
    expect: { state: 'master' },
    actions: [
      { type: 'send-advert', priority: 100 },
      { type: 'arm', timer: 'advert', afterMs: 1000 },
    ],
  },
  { name: 'master + stale master-down timer is ignored', from: master, event: { type: 'timer', timer: 'master-down' }, expect: { state: 'master' }, actions: [] },
  {
    name: 'master + higher-priority advert -> backup',
    from: master,
    event: advert(150, LOWER_ADDR, 500),
    expect: { state: 'backup', masterAddr: LOWER_ADDR, masterPriority: 150, masterAdverIntervalMs: 500 },
    actions: [
      { type: 'cancel', timer: 'advert' },
      { type: 'remove-vips' },
      { type: 'arm', timer: 'master-down', afterMs: 1500 + (156 * 500) / 256 },
      { type: 'became', from: 'master', to: 'backup', reason: 'higher-priority-advert' },
    ],
  },
  {
    name: 'master + equal priority from a higher address -> backup',
    from: master,
    event: advert(100, HIGHER_ADDR),
    expect: { state: 'backup', masterAddr: HIGHER_ADDR },
    actions: [
      { type: 'cancel', timer: 'advert' },
      { type: 'remove-vips' },
      { type: 'arm', timer: 'master-down', afterMs: MDI_100 },
      { type: 'became', from: 'master', to: 'backup', reason: 'equal-priority-higher-address' },
    ],
  },
  {
    name: 'master + equal priority from a lower address: advertise at once',
    from: master,
    event: advert(100, LOWER_ADDR),
    expect: { state: 'master' },
    actions: [{ type: 'send-advert', priority: 100 }, { type: 'send-garp' }],
  },
  {
    name: 'master + lower-priority advert: advertise at once',
    from: master,
    event: advert(50, HIGHER_ADDR),
    expect: { state: 'master' },
    actions: [{ type: 'send-advert', priority: 100 }, { type: 'send-garp' }],
  },
  {
    name: 'master + priority-0 advert: advertise and restart Adver_Timer',
    from: master,
    event: advert(0, HIGHER_ADDR),
    expect: { state: 'master' },
    actions: [
      { type: 'send-advert', priority: 100 },
      { type: 'arm', timer: 'advert', afterMs: 1000 },
    ],
  },
  {
    name: 'master + shutdown -> init, priority 0 and VIPs released',
    from: master,
    event: { type: 'shutdown' },
    expect: { state: 'init', masterAddr: null },
    actions: [...releaseMaster, { type: 'became', from: 'master', to: 'init', reason: 'shutdown' }],
  },
  {
    name: 'master + fault -> fault, priority 0 and VIPs released',
    from: master,
    event: { type: 'fault', reason: 'eth0' },
    expect: { state: 'fault', faults: ['eth0'] },
    actions: [...releaseMaster, { type: 'became', from: 'master', to: 'fault', reason: 'fault:eth0' }],
  },
  {
    name: 'master + priority change: advertise the new priority at once',
    from: master,
    event: { type: 'priority-change', delta: -30 },
    expect: { priorityDelta: -30 },
    actions: [{ type: 'send-advert', priority: 70 }],
  },
  {
    name: 'master + priority change beyond 254: clamped, no change, no advert',
    from: { ...master, priorityDelta: 200 },
    event: { type: 'priority-change', delta: 10 },
    expect: { priorityDelta: 210 },
    actions: [],
  },
  { name: 'master + recover of an unknown fault: no-op', from: master, event: { type: 'recover', reason: 'x' }, expect: { state: 'master' }, actions: [] },

  // ---- fault (keepalived FAULT) ----
  {
    name: 'fault + recover of the last fault -> backup',
    from: fault,
    event: { type: 'recover', reason: 'eth0' },
    expect: { state: 'backup', faults: [], masterAdverIntervalMs: 1000 },
    actions: [
      { type: 'arm', timer: 'master-down', afterMs: MDI_100 },
      { type: 'became', from: 'fault', to: 'backup', reason: 'recover' },
    ],
  },
  {
    name: 'fault + recover, owner -> master',
    cfg: OWNER,
    from: fault,
    event: { type: 'recover', reason: 'eth0' },
    expect: { state: 'master' },
    actions: becameMaster('fault', 255, 'recover'),
  },
  {
    name: 'fault + recover while another fault is active: stays',
    from: { ...fault, faults: ['eth0', 'service:write'] },
    event: { type: 'recover', reason: 'eth0' },
    expect: { state: 'fault', faults: ['service:write'] },
    actions: [],
  },
  { name: 'fault + a second fault is recorded', from: fault, event: { type: 'fault', reason: 'a' }, expect: { faults: ['a', 'eth0'] }, actions: [] },
  { name: 'fault + the same fault again: no-op', from: fault, event: { type: 'fault', reason: 'eth0' }, expect: { faults: ['eth0'] }, actions: [] },
  { name: 'fault + advert is ignored', from: fault, event: advert(0), expect: { state: 'fault' }, actions: [] },
  { name: 'fault + timer is ignored', from: fault, event: { type: 'timer', timer: 'master-down' }, expect: { state: 'fault' }, actions: [] },
  { name: 'fault + startup is ignored', from: fault, event: { type: 'startup' }, expect: { state: 'fault' }, actions: [] },
  {
    name: 'fault + shutdown -> init (faults kept)',
    from: fault,
    event: { type: 'shutdown' },
    expect: { state: 'init', faults: ['eth0'] },
    actions: [{ type: 'became', from: 'fault', to: 'init', reason: 'shutdown' }],
  },
  { name: 'master + startup is ignored', from: master, event: { type: 'startup' }, expect: { state: 'master' }, actions: [] },
  { name: 'priority change of 0 is a no-op', from: master, event: { type: 'priority-change', delta: 0 }, expect: { priorityDelta: 0 }, actions: [] },
];

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

for (const row of rows) {
  test(row.name, () => {
    const cfg = deepFreeze({ ...(row.cfg ?? V3) });
    const from = deepFreeze({ ...row.from });
    const { next, actions } = step(cfg, from, row.event, row.now ?? 0);
    assert.deepEqual(actions, row.actions);
    for (const [k, v] of Object.entries(row.expect)) assert.deepEqual(next[k as keyof RouterState], v, k);
    // pure: the same inputs give the same outputs
    assert.deepEqual(step(cfg, from, row.event, row.now ?? 0), { next, actions });
  });
}

test('every state x event pair is covered by a row or handled without throwing', () => {
  const states: RouterState[] = [init, backup, master, fault];
  const events: VrrpEvent[] = [
    { type: 'startup' },
    { type: 'shutdown' },
    { type: 'fault', reason: 'x' },
    { type: 'recover', reason: 'x' },
    { type: 'priority-change', delta: 5 },
    { type: 'timer', timer: 'advert' },
    { type: 'timer', timer: 'master-down' },
    advert(0),
    advert(50, LOWER_ADDR),
    advert(100, HIGHER_ADDR),
    advert(255),
  ];
  for (const s of states) {
    for (const e of events) {
      const { next, actions } = step(V3, s, e, 0);
      const became = actions.filter((a) => a.type === 'became');
      assert.ok(became.length <= 1);
      if (became.length === 1) {
        assert.equal(actions.at(-1)?.type, 'became', 'became comes last');
        assert.deepEqual(became[0], { type: 'became', from: s.state, to: next.state, reason: (became[0] as { reason: string }).reason });
      } else {
        assert.equal(next.state, s.state);
      }
    }
  }
});

test('timer formulas (RFC 5798 §6.1, RFC 3768 §6.1)', () => {
  assert.equal(skewTimeMs(3, 100, 1000), 609.375);
  assert.equal(skewTimeMs(3, 100, 100), 60.9375); // the v3 capture: 61 ms
  assert.equal(skewTimeMs(2, 100, 5000), 609.375); // v2: independent of the interval
  assert.equal(skewTimeMs(3, 255, 1000), 1000 / 256);
  assert.equal(masterDownIntervalMs(3, 150, 1000), 3000 + (106 * 1000) / 256);
  assert.equal(masterDownIntervalMs(2, 150, 2000), 6000 + (106 * 1000) / 256);
});

test('effective priority: weights move it within 1-254; the owner ignores them', () => {
  assert.equal(effectivePriority(V3, { ...init, priorityDelta: -20 }), 80);
  assert.equal(effectivePriority(V3, { ...init, priorityDelta: -500 }), 1);
  assert.equal(effectivePriority(V3, { ...init, priorityDelta: 500 }), 254);
  assert.equal(effectivePriority(OWNER, { ...init, priorityDelta: -50 }), 255);
});

test('a backup whose weight dropped uses the new priority in Skew_Time', () => {
  const { next } = step(V3, backup, { type: 'priority-change', delta: -50 }, 0);
  const { actions } = step(V3, next, advert(150), 0);
  assert.deepEqual(actions, [{ type: 'arm', timer: 'master-down', afterMs: 3000 + (206 * 1000) / 256 }]);
});
