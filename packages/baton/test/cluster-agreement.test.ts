/**
 * The writer agreement rule, as pure functions: which decision wins, what a
 * deciding and an adopting node name, and two simulated nodes walking
 * through the master-master story (db1 fails, returns, the backup restarts,
 * the VIP moves) naming the same writer at every step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agree, beats, switchDecision, type AgreementCandidate, type AgreementInput, type Decision } from '../src/cluster/agreement.js';
import type { WriterConfig } from '../src/config/types.js';

const NOFAILBACK: WriterConfig = { pick: 'first', failback: false, onChange: 'close' };
const FAILBACK: WriterConfig = { pick: 'first', failback: true, onChange: 'close' };

const d = (writer: string | null, epoch: number, decidedBy: string, priority = 100): Decision => ({ service: 'write', writer, epoch, decidedBy, reason: 'r', priority });
const up = (...names: string[]): AgreementCandidate[] => ['db1', 'db2'].map((name) => ({ name, up: names.includes(name), backup: false }));

function input(role: 'decide' | 'adopt', candidates: AgreementCandidate[], writer = NOFAILBACK, node = 'lb1', priority = 102): AgreementInput {
  return { service: 'write', writer, candidates, role, node, priority };
}

test('higher epoch wins, then higher priority, then the lower node name', () => {
  assert.ok(beats(d('db1', 2, 'lb2', 1), d('db2', 1, 'lb1', 200)));
  assert.ok(!beats(d('db1', 1, 'lb2', 200), d('db2', 2, 'lb1', 1)));
  assert.ok(beats(d('db1', 3, 'lb2', 150), d('db2', 3, 'lb1', 100)));
  assert.ok(beats(d('db1', 3, 'lb1', 100), d('db2', 3, 'lb2', 100)));
  assert.ok(!beats(d('db1', 3, 'lb2', 100), d('db2', 3, 'lb1', 100)));
  assert.ok(beats(d('db1', 0, 'x'), undefined));
  // A total order: of any two different decisions exactly one wins.
  const all = [d('a', 1, 'lb1', 1), d('a', 1, 'lb2', 1), d('a', 1, 'lb1', 2), d('a', 2, 'lb1', 1)];
  for (const a of all) for (const b of all) if (a !== b) assert.notEqual(beats(a, b), beats(b, a));
});

test('a decider keeps the agreed writer while it is up (failback false), decides anew when it goes down, and decides nothing when no server is up', () => {
  const known = d('db2', 4, 'lb2');
  const kept = agree(input('decide', up('db1', 'db2')), known);
  assert.deepEqual([kept.writer, kept.made, kept.decision], ['db2', false, known]);
  const moved = agree(input('decide', up('db1')), known);
  assert.equal(moved.writer, 'db1');
  assert.equal(moved.made, true);
  assert.deepEqual(moved.decision, { service: 'write', writer: 'db1', epoch: 5, decidedBy: 'lb1', reason: 'db2 down', priority: 102 });
  // A node cut off from every server names none but keeps the decision: no epoch it could win with later.
  const none = agree(input('decide', up()), known);
  assert.deepEqual([none.writer, none.made, none.decision], [null, false, known]);
  assert.match(none.why, /no server up here; keeping db2 from lb2/);
  // The servers come back: the agreed writer is kept, not the first one up.
  const back = agree(input('decide', up('db1', 'db2')), none.decision);
  assert.deepEqual([back.writer, back.made, back.decision], ['db2', false, known]);
  // Only another server back: that is a change of writer, a new decision.
  const other = agree(input('decide', up('db1')), none.decision);
  assert.deepEqual([other.writer, other.made, other.decision?.epoch, other.decision?.reason], ['db1', true, 5, 'db2 down']);
});

test('a decider with failback moves back to the first server', () => {
  const r = agree(input('decide', up('db1', 'db2'), FAILBACK), d('db2', 4, 'lb2'));
  assert.deepEqual([r.writer, r.made, r.decision?.epoch, r.decision?.reason], ['db1', true, 5, 'failback to db1']);
});

test('a first decision starts at epoch 1; nothing up and nothing known decides nothing', () => {
  const r = agree(input('decide', up('db2')), undefined);
  assert.deepEqual([r.writer, r.made, r.decision?.epoch, r.decision?.reason], ['db2', true, 1, 'db2 first up']);
  assert.deepEqual(agree(input('decide', up()), undefined), { writer: null, decision: undefined, made: false, why: 'no server up' });
});

test('a decider waits while a server has no verdict, but keeps an agreed writer that is up', () => {
  const pending: AgreementCandidate[] = [{ name: 'db1', up: true, backup: false }, { name: 'db2', up: false, backup: false, pending: true }];
  assert.deepEqual([agree(input('decide', pending), d('db2', 2, 'lb2')).writer, agree(input('decide', pending), d('db2', 2, 'lb2')).made], [null, false]);
  const pending2: AgreementCandidate[] = [{ name: 'db1', up: false, backup: false, pending: true }, { name: 'db2', up: true, backup: false }];
  assert.equal(agree(input('decide', pending2), d('db2', 2, 'lb2')).writer, 'db2');
});

test('an adopter names the decided writer only while it is up by its own checks, never a choice of its own', () => {
  assert.equal(agree(input('adopt', up('db1', 'db2')), d('db2', 2, 'lb1')).writer, 'db2');
  assert.equal(agree(input('adopt', up('db1')), d('db2', 2, 'lb1')).writer, null);
  assert.equal(agree(input('adopt', up('db1', 'db2')), undefined).writer, null);
  assert.equal(agree(input('adopt', up('db1', 'db2')), d(null, 2, 'lb1')).writer, null);
  assert.equal(agree(input('adopt', up('db1', 'db2')), d('db2', 2, 'lb1')).made, false);
});

test('a switch is a new epoch decided by this node', () => {
  assert.deepEqual(switchDecision('write', 'db1', d('db2', 7, 'lb2'), 'lb1', 102), { service: 'write', writer: 'db1', epoch: 8, decidedBy: 'lb1', reason: 'switch', priority: 102 });
});

/**
 * Two nodes exchanging decisions without loss: each step changes the
 * servers' health or the VRRP roles, then both nodes run the rule until
 * nothing moves; after every step they must name the same writer.
 */
class SimNode {
  known: Decision | undefined;
  writer: string | null = null;
  constructor(
    readonly name: string,
    readonly priority: number,
    public role: 'decide' | 'adopt',
  ) {}
  step(candidates: AgreementCandidate[]): Decision | undefined {
    const out = agree(input(this.role, candidates, NOFAILBACK, this.name, this.priority), this.known);
    this.writer = out.writer;
    if (out.made) this.known = out.decision;
    return out.made ? out.decision : undefined;
  }
  hear(dec: Decision | undefined): void {
    if (dec && beats(dec, this.known)) this.known = dec;
  }
}

function settle(nodes: SimNode[], candidates: AgreementCandidate[]): void {
  for (let round = 0; round < 5; round++) {
    for (const n of nodes) {
      n.step(candidates);
      for (const o of nodes) if (o !== n) o.hear(n.known);
    }
  }
}

test('the master-master story: both nodes name the same writer at every step, and db1 is never named after it failed', () => {
  const master = new SimNode('lb1', 102, 'decide');
  let backup = new SimNode('lb2', 101, 'adopt');
  settle([master, backup], up('db1', 'db2'));
  assert.deepEqual([master.writer, backup.writer], ['db1', 'db1']);

  settle([master, backup], up('db2')); // db1 fails
  assert.deepEqual([master.writer, backup.writer], ['db2', 'db2']);
  settle([master, backup], up('db1', 'db2')); // db1 returns
  assert.deepEqual([master.writer, backup.writer], ['db2', 'db2']);

  // The backup restarts: it knows nothing until the master answers its query.
  backup = new SimNode('lb2', 101, 'adopt');
  backup.hear(master.known);
  settle([master, backup], up('db1', 'db2'));
  assert.deepEqual([master.writer, backup.writer], ['db2', 'db2']);

  // VIP failover: the master stops, the backup becomes master and decides.
  backup.role = 'decide';
  settle([backup], up('db1', 'db2'));
  assert.equal(backup.writer, 'db2');
  assert.equal(backup.known?.epoch, master.known?.epoch, 'a failover alone makes no new decision');
});

test('two deciders after a partition converge on one decision', () => {
  const a = new SimNode('lb1', 102, 'decide');
  const b = new SimNode('lb2', 101, 'decide');
  // Partitioned: each decides alone, with different views.
  a.step(up('db1', 'db2'));
  b.step(up('db2'));
  assert.deepEqual([a.known?.epoch, b.known?.epoch], [1, 1]);
  // Healed: lb1's decision wins the tie on priority, and both name db1.
  a.role = 'decide';
  b.role = 'adopt';
  settle([a, b], up('db1', 'db2'));
  assert.deepEqual([a.writer, b.writer], ['db1', 'db1']);
});
