/**
 * The chaos run in CI: test/lab/chaos.ts (the engine behind
 * benchmarks/chaos.mjs) for 2 minutes, a seeded fault every 3-15 s against
 * three Baton nodes and two MariaDB servers in the lab, with the run's
 * invariants as assertions: no daemon crash (an exit nobody asked for, or a
 * non-zero exit after SIGTERM), no sample with two VIP owners outside the
 * protocol's bound after each fault (3 × advert interval + skew), and no
 * sample in which the live nodes name different writers outside the
 * health-check bound. The seed is printed; a failure is replayed with
 * `node benchmarks/chaos.mjs 2 --seed N`.
 *
 * The first tests feed the verdict made-up records, so each invariant is
 * seen to fail when it is broken (a checker that cannot fail proves nothing),
 * and that what the protocol allows is not counted against it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { labCapability } from './lab/lab.js';
import { mariadbCapability } from './helpers/mariadb.js';
import { analyze, type ChaosInputs, type FaultRecord } from './lab/chaos-report.js';
import { planFor, runChaos, table } from './lab/chaos.js';

const labCap = labCapability();
const dbCap = mariadbCapability();

/** 10 s judged, lb1 holding the VIP throughout, every node naming db1 every 20 ms: a run with nothing wrong. */
function calm(): ChaosInputs {
  const samples = [];
  for (let at = 0; at < 10_000; at += 20) samples.push({ at, w: { lb1: 'db1', lb2: 'db1', lb3: 'db1' } });
  return {
    seed: 1, minutes: 1, nodes: ['lb1', 'lb2', 'lb3'], from: 0, to: 10_000, vipBoundMs: 361, writerBoundMs: 1050,
    faults: [], vipEvents: [{ at: -1, node: 'lb1', held: true }], offSegment: [], daemonDown: [], samples, clientErrors: [], clientOk: {},
    daemons: [{ node: 'lb1', start: null, end: null, starts: 1, crashes: [] }], findings: [],
  };
}
const kill: FaultRecord = { kind: 'sigkill', target: 'lb1', detail: 'process group', at: 5000, done: 5010, healAt: 7000, healDone: 8000 };

test('chaos verdict: a calm run holds', () => {
  const r = analyze(calm());
  assert.deepEqual(r.failures, []);
  assert.equal(r.vip.exactlyOneShareJudged, 100);
  assert.equal(r.writer.agreeShareJudged, 100);
});

test('chaos verdict: two VIP owners fail the run outside the bound, not inside it', () => {
  const x = calm();
  // lb2 takes the VIP 200 ms after lb1 was killed, inside the bound; lb1 keeps it 300 ms longer, past the bound.
  x.faults = [kill];
  x.vipEvents = [...x.vipEvents, { at: 5200, node: 'lb2', held: true }, { at: 5700, node: 'lb1', held: false }];
  const r = analyze(x);
  assert.equal(r.ok, false);
  assert.match(r.failures.join('\n'), /two VIP owners outside the bounds/);
  assert.equal(r.vip.longestDual.ms, 500);
  // The same, with lb1 letting go within the bound: allowed.
  x.vipEvents = [{ at: -1, node: 'lb1', held: true }, { at: 5200, node: 'lb2', held: true }, { at: 5300, node: 'lb1', held: false }];
  assert.deepEqual(analyze(x).failures, []);
});

test('chaos verdict: a node off the segment or with its daemon down is no owner', () => {
  const x = calm();
  x.faults = [kill];
  x.vipEvents = [...x.vipEvents, { at: 5200, node: 'lb2', held: true }];
  // lb1 keeps the VIP with its daemon down until the restart's start removes it: stale, not a second owner.
  x.daemonDown = [{ node: 'lb1', from: 5000, to: 8000 }];
  x.vipEvents = [...x.vipEvents, { at: 7900, node: 'lb1', held: false }];
  let r = analyze(x);
  assert.deepEqual(r.failures, []);
  assert.ok(r.vip.staleSamples > 100);
  assert.equal(r.vip.longestStale.ms, 2900);
  // lb3 partitioned and master of its island: not an owner on the segment.
  x.offSegment = [{ node: 'lb3', from: 1000, to: 3000 }];
  x.faults = [{ kind: 'partition', target: 'lb3', detail: '', at: 1000, done: 1010, healAt: 2990, healDone: 3000 }, kill];
  x.vipEvents = [...x.vipEvents, { at: 1500, node: 'lb3', held: true }, { at: 2500, node: 'lb3', held: false }];
  r = analyze(x);
  assert.deepEqual(r.failures, []);
});

test('chaos verdict: writer disagreement and crashes fail the run', () => {
  const x = calm();
  const samples = [...x.samples];
  samples[300] = { at: samples[300]!.at, w: { lb1: 'db1', lb2: 'db2', lb3: 'db1' } };
  // A node that does not answer is not live: no disagreement.
  samples[100] = { at: samples[100]!.at, w: { lb1: 'db1', lb2: '-', lb3: 'db1' } };
  x.samples = samples;
  let r = analyze(x);
  assert.equal(r.writer.disagreeJudged, 1);
  assert.match(r.failures.join('\n'), /writer disagreement/);
  // Inside a database fault's bound it is allowed.
  x.faults = [{ kind: 'db-kill', target: 'db1', detail: '', at: x.samples[300]!.at - 500, done: x.samples[300]!.at - 490, healAt: 9000, healDone: 9500 }];
  assert.equal(analyze(x).writer.disagreeJudged, 0);
  x.daemons = [{ node: 'lb2', start: null, end: null, starts: 2, crashes: ['exited when not told to (exit code 1 signal -)'] }];
  r = analyze(x);
  assert.equal(r.crashes, 1);
  assert.match(r.failures.join('\n'), /daemon crash/);
});

test('chaos plan: the same seed gives the same schedule, faults every 3-15 s', () => {
  const a = planFor(42, 2);
  assert.deepEqual(planFor(42, 2), a);
  assert.notDeepEqual(planFor(43, 2), a);
  assert.ok(a.every((f) => f.gapS >= 3 && f.gapS <= 15 && f.holdS >= 1 && f.holdS < f.gapS));
  assert.ok(a.reduce((s, f) => s + f.gapS, 0) >= 120);
});

test('chaos: 2 minutes of faults against three Baton nodes and two MariaDB servers; no crash, no dual VIP owner, no writer disagreement outside the bounds', { timeout: 290_000 }, async (t) => {
  if (!requireCapability(t, labCap.ok, labCap.reason)) return;
  if (!requireCapability(t, dbCap.ok, dbCap.reason)) return;
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;
  const started = Date.now();
  const r = await runChaos({ minutes: 2, ...(seed !== undefined ? { seed } : {}), log: (l) => t.diagnostic(l) });
  t.diagnostic(table(r));
  t.diagnostic(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(r.faults.total >= 6, `too few faults: ${r.faults.total}`);
  assert.ok(r.vip.judged > 1000 && r.writer.judged > 1000, `too few judged samples: ${r.vip.judged} VIP, ${r.writer.judged} writer`);
  assert.equal(r.crashes, 0, `daemon crashes (seed ${r.seed}):\n${r.crashList.join('\n')}`);
  assert.deepEqual(r.vip.firstDualOutside, [], `two VIP owners outside the bounds (seed ${r.seed})`);
  assert.deepEqual(r.writer.firstDisagreeOutside, [], `writer disagreement outside the bounds (seed ${r.seed})`);
  assert.deepEqual(r.failures, []);
});
