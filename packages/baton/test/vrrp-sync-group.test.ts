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
import { groupNotifyArgv, groupState, syncFaultWanted, SyncGroups, type MemberView, type SyncMember } from '../src/vrrp/sync-group.js';
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

/** A member whose state follows its faults the way a router does (fault while any fault, else master). */
function fakeMember(name: string, log: string[]): SyncMember & { own(reason: string, on: boolean): void } {
  const faults = new Set<string>();
  const state = (): VrrpState => (faults.size > 0 ? 'fault' : 'master');
  return {
    view: () => ({ name, state: state(), faults: [...faults].sort() }),
    setFault(reason, on) {
      log.push(`${name} ${on ? '+' : '-'}${reason}`);
      if (on) faults.add(reason);
      else faults.delete(reason);
    },
    own(reason, on) {
      if (on) faults.add(reason);
      else faults.delete(reason);
    },
  };
}

test('coordinator: one member faults, the other follows; it recovers, both are released', () => {
  const log: string[] = [];
  const group: VrrpSyncGroupConfig = { name: 'G', instances: ['VI_1', 'VI_2'], notify: [], notifyOn: { master: [], backup: [], fault: [], stop: [] } };
  const sync = new SyncGroups(silentLogger);
  sync.configure([group]);
  const a = fakeMember('VI_1', log);
  const b = fakeMember('VI_2', log);
  const members = new Map<string, SyncMember>([
    ['VI_1', a],
    ['VI_2', b],
  ]);
  sync.evaluate(members);
  assert.deepEqual(log, []);
  a.own('interface:eth0', true);
  sync.evaluate(members);
  sync.evaluate(members); // idempotent
  assert.deepEqual(log, ['VI_2 +sync:G']);
  a.own('interface:eth0', false);
  sync.evaluate(members);
  assert.deepEqual(log, ['VI_2 +sync:G', 'VI_2 -sync:G']);
  assert.equal(sync.groupOf('VI_2'), 'G');
  assert.equal(sync.groupOf('VI_3'), undefined);
});

test('coordinator: the group enters each state once (one log line each), however often it is evaluated', () => {
  const calls: string[] = [];
  const group: VrrpSyncGroupConfig = { name: 'G', instances: ['VI_1', 'VI_2'], notify: [], notifyOn: { master: [], backup: [], fault: [], stop: [] } };
  const logger = { ...silentLogger, child: () => logger, info: (msg: string) => void calls.push(msg) } as unknown as Logger;
  const sync = new SyncGroups(logger);
  sync.configure([group]);
  const log: string[] = [];
  const a = fakeMember('VI_1', log);
  const b = fakeMember('VI_2', log);
  const members = new Map<string, SyncMember>([
    ['VI_1', a],
    ['VI_2', b],
  ]);
  sync.evaluate(members);
  a.own('x', true);
  sync.evaluate(members);
  sync.evaluate(members);
  a.own('x', false);
  sync.evaluate(members);
  assert.deepEqual(
    calls.filter((c) => c.includes('entering')),
    ['sync group G entering MASTER state', 'sync group G entering FAULT state', 'sync group G entering MASTER state'],
  );
});
