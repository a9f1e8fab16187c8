/**
 * The lab itself: it builds a working segment, and destroy() leaves nothing
 * behind (no namespace, no link, no process, no temp dir), including when
 * the test body throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { requireCapability } from '@baton/core';
import { Lab, labCapability, reach, withLab } from './lab/lab.js';

const cap = labCapability();

const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
const hostLinks = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
/** Running, not merely a zombie waiting for a reaper (orphans go to a PID 1 that may reap late). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

test('a lab is a working segment: nodes reach each other, the host sees nothing of it', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['a', 'b'], async (lab) => {
    assert.match(lab.id, /^bt-[0-9a-f]{6}$/);
    assert.match(netnsList(), new RegExp(`${lab.id}-a\\b`));
    assert.match(netnsList(), new RegExp(`${lab.id}-b\\b`));
    assert.doesNotMatch(hostLinks(), new RegExp(lab.id), 'no link of the lab in the host namespace');
    assert.equal(await reach(lab, 'a', lab.node('b').addr), 'connected');
    const addrs = await lab.exec('b', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addrs.stdout, new RegExp(lab.node('b').cidr.replace(/\./g, '\\.')));
  });
});

test('destroy() removes namespaces, links, processes and the temp dir even when the body throws', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  let id = '';
  let dir = '';
  let pids: number[] = [];
  await assert.rejects(
    withLab(['lb1', 'lb2', 'client'], async (lab) => {
      id = lab.id;
      dir = lab.dir;
      const tracked = lab.spawn('lb1', ['sleep', '60']);
      // A process the lab did not start itself, left running inside a namespace.
      await lab.exec('lb2', ['sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $! > ' + lab.dir + '/bg.pid']);
      const bg = Number(execFileSync('cat', [lab.dir + '/bg.pid'], { encoding: 'utf8' }));
      pids = [tracked.pid ?? -1, bg];
      assert.ok(pids.every(alive));
      throw new Error('test body failed');
    }),
    /test body failed/,
  );
  assert.ok(id !== '');
  assert.doesNotMatch(netnsList(), new RegExp(id), 'no namespace left');
  assert.doesNotMatch(hostLinks(), new RegExp(id), 'no link left');
  assert.ok(!existsSync(dir), 'temp dir removed');
  assert.deepEqual(pids.map(alive), [false, false], 'no process left');
});

test('destroy() is idempotent and concurrent calls share one teardown; names never collide', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const [l1, l2] = await Promise.all([Lab.create(['x']), Lab.create(['x'])]);
  try {
    assert.notEqual(l1.id, l2.id);
    assert.notEqual(l1.node('x').ns, l2.node('x').ns);
  } finally {
    await Promise.all([l1.destroy(), l1.destroy(), l2.destroy()]);
    await l1.destroy();
  }
  assert.doesNotMatch(netnsList(), new RegExp(`${l1.id}|${l2.id}`));
});

test('cutLink() takes the carrier away from the node, healLink() gives it back', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['a', 'b'], async (lab) => {
    await lab.cutLink('a');
    const down = await lab.exec('a', ['ip', '-o', 'link', 'show', 'eth0']);
    assert.match(down.stdout, /NO-CARRIER/);
    assert.equal(await reach(lab, 'a', lab.node('b').addr), 'unreachable');
    await lab.healLink('a');
    const up = await lab.exec('a', ['ip', '-o', 'link', 'show', 'eth0']);
    assert.doesNotMatch(up.stdout, /NO-CARRIER/);
  });
});
