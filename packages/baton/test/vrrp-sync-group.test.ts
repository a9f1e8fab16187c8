/**
 * Sync groups: the pure rule (a member in FAULT on its own account puts
 * every other member in FAULT with `sync:GROUP`; released together), the
 * group state, the group's notify argv, and the coordinator applying the
 * rule to members until nothing changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger, type Logger } from '@baton/core';
import type { VrrpState } from '@baton/vrrp';
import { groupNotifyArgv, groupState, holdWanted, syncFaultWanted, SyncGroups, type MemberView, type SyncMember } from '../src/vrrp/sync-group.js';
import type { VrrpSyncGroupConfig } from '../src/config/types.js';

const view = (name: string, state: VrrpState, faults: string[] = []): MemberView => ({ name, state, faults });

test('rule: a member with its own fault pulls the others into FAULT; the group fault alone does not', () => {
  const members = [view('VI_1', 'fault', ['interface:eth0']), view('VI_2', 'master')];
  assert.equal(syncFaultWanted('G', members, 'VI_2'), true);
  assert.equal(syncFaultWanted('G', members, 'VI_1'), false);
  // VI_2 in FAULT only because of the group does not hold VI_1 there.
  const after = [view('VI_1', 'backup'), view('VI_2', 'fault', ['sync:G'])];
  assert.equal(syncFaultWanted('G', after, 'VI_1'), false);
  assert.equal(syncFaultWanted('G', after, 'VI_2'), false);
});

test('group state: fault if any member is, master or backup when all agree, otherwise in transition', () => {
  assert.equal(groupState([view('a', 'master'), view('b', 'master')]), 'master');
  assert.equal(groupState([view('a', 'backup'), view('b', 'backup')]), 'backup');
  assert.equal(groupState([view('a', 'master'), view('b', 'fault', ['x'])]), 'fault');
  assert.equal(groupState([view('a', 'master'), view('b', 'backup')]), undefined);
});

test('group notify argv: SCRIPT GROUP NAME STATE', () => {
  const c = { instance: 'G1', from: 'backup' as const, to: 'master' as const, reason: 'sync-group', priority: 0, atMs: 0 };
  assert.deepEqual(groupNotifyArgv('/n.sh', c), ['/n.sh', 'GROUP', 'G1', 'MASTER']);
  assert.deepEqual(groupNotifyArgv(['/n.sh', '-v'], { ...c, to: 'init' }), ['/n.sh', '-v', 'GROUP', 'G1', 'STOP']);
});

/**
 * A member that moves the way a router does: FAULT while any fault (and
 * BACKUP when the last goes); a hold makes a master step down to BACKUP; a
 * held BACKUP whose timer fires wants master, and takes over when the last
 * hold goes; an unheld BACKUP whose timer fires takes over; `lose()` is an
 * election lost to a higher-priority peer.
 */
function fakeMember(name: string, log: string[]) {
  const faults = new Set<string>();
  const holds = new Set<string>();
  let state: 'master' | 'backup' = 'master';
  let wants = false;
  const m = {
    view: (): MemberView => ({ name, state: faults.size > 0 ? 'fault' : state, faults: [...faults].sort(), holds: [...holds], wantsMaster: wants }),
    setFault(reason: string, on: boolean) {
      log.push(`${name} ${on ? '+' : '-'}${reason}`);
      m.own(reason, on);
    },
    setHold(reason: string, on: boolean) {
      log.push(`${name} ${on ? '+hold:' : '-hold:'}${reason}`);
      if (on) {
        holds.add(reason);
        if (state === 'master') state = 'backup';
        wants = false;
      } else {
        holds.delete(reason);
        if (holds.size === 0 && faults.size === 0 && state === 'backup' && wants) {
          state = 'master';
          wants = false;
        }
      }
    },
    own(reason: string, on: boolean) {
      if (on) {
        faults.add(reason);
        state = 'backup';
        wants = false;
      } else faults.delete(reason);
    },
    timerFires() {
      if (faults.size > 0 || state !== 'backup') return;
      if (holds.size > 0) wants = true;
      else state = 'master';
    },
    lose() {
      state = 'backup';
      wants = false;
    },
  };
  return m;
}

function harness() {
  const log: string[] = [];
  const group: VrrpSyncGroupConfig = { name: 'G', instances: ['VI_1', 'VI_2'], notify: [], notifyOn: { master: [], backup: [], fault: [], stop: [] } };
  const lines: string[] = [];
  const logger = { ...silentLogger, child: () => logger, info: (msg: string) => void lines.push(msg) } as unknown as Logger;
  const sync = new SyncGroups(logger);
  sync.configure([group]);
  const a = fakeMember('VI_1', log);
  const b = fakeMember('VI_2', log);
  const members = new Map<string, SyncMember>([
    ['VI_1', a],
    ['VI_2', b],
  ]);
  /** As the host does: evaluate after every change, until the members stop moving (bounded). */
  const settle = () => {
    for (let i = 0; i < 5; i++) {
      const before = JSON.stringify([a.view(), b.view()]);
      sync.evaluate(members);
      if (JSON.stringify([a.view(), b.view()]) === before) return;
    }
    assert.fail('the group did not settle');
  };
  return { log, lines, sync, a, b, settle };
}

test('rule: hold a member while another is neither master nor wanting to be', () => {
  assert.equal(holdWanted([view('a', 'backup'), view('b', 'master')], 'b'), true);
  assert.equal(holdWanted([view('a', 'master'), view('b', 'master')], 'b'), false);
  assert.equal(holdWanted([{ ...view('a', 'backup'), wantsMaster: true }, view('b', 'backup')], 'b'), false);
  assert.equal(holdWanted([{ ...view('a', 'backup'), wantsMaster: true }, view('b', 'backup')], 'a'), true);
});

test('coordinator: a member loses its election, the other master steps down; when the peer goes, both take over', () => {
  const { log, a, b, settle, lines } = harness();
  settle();
  assert.deepEqual(log, [], 'both master: nothing to do');
  a.lose();
  settle();
  assert.deepEqual(log, ['VI_2 +hold:sync:G', 'VI_1 +hold:sync:G']);
  assert.deepEqual([a.view().state, b.view().state], ['backup', 'backup']);
  assert.ok(lines.includes('sync group G: VI_2 follows VI_1 into BACKUP'), lines.join('\n'));
  // The peer is gone: VI_1's timer fires first; VI_2 is released but still waits for its own.
  a.timerFires();
  settle();
  assert.deepEqual([a.view().state, b.view().state], ['backup', 'backup']);
  b.timerFires();
  settle();
  assert.deepEqual([a.view().state, b.view().state], ['master', 'master']);
  assert.deepEqual(a.view().holds, []);
  assert.deepEqual(b.view().holds, []);
});

test('coordinator: while the peer stays master of one member, the other never takes over, however often its timer fires', () => {
  const { a, b, settle } = harness();
  a.lose();
  settle();
  for (let i = 0; i < 3; i++) {
    b.timerFires();
    settle();
  }
  assert.deepEqual([a.view().state, b.view().state], ['backup', 'backup']);
});

test('coordinator: one member faults, the other follows into FAULT; it recovers, both are released', () => {
  const { log, a, b, settle, sync } = harness();
  a.own('interface:eth0', true);
  settle();
  assert.deepEqual(b.view().faults, ['sync:G']);
  assert.equal(b.view().state, 'fault');
  a.own('interface:eth0', false);
  settle();
  assert.deepEqual(b.view().faults, []);
  assert.ok(log.includes('VI_2 +sync:G') && log.includes('VI_2 -sync:G'), log.join(', '));
  // Both wait as backups, then take over together.
  a.timerFires();
  b.timerFires();
  settle();
  a.timerFires();
  b.timerFires();
  settle();
  assert.deepEqual([a.view().state, b.view().state], ['master', 'master']);
  assert.equal(sync.groupOf('VI_2'), 'G');
  assert.equal(sync.groupOf('VI_3'), undefined);
});

test('coordinator: the group enters each state once (one log line each), however often it is evaluated', () => {
  const { a, b, settle, lines } = harness();
  settle();
  settle();
  a.own('x', true);
  settle();
  a.own('x', false);
  settle();
  a.timerFires();
  b.timerFires();
  settle();
  a.timerFires();
  b.timerFires();
  settle();
  settle();
  assert.deepEqual(
    lines.filter((c) => c.includes('entering')),
    ['sync group G entering MASTER state', 'sync group G entering FAULT state', 'sync group G entering BACKUP state', 'sync group G entering MASTER state'],
  );
});
