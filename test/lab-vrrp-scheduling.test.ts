/**
 * The VRRP child's scheduling (`vrrp_scheduling`): as root it runs SCHED_RR
 * at the configured priority with its memory locked (VmLck > 0), a reload
 * changes the priority in place, `realtime_priority: 0, lock_memory: false`
 * leaves it as any process, and without the capabilities (setpriv dropping
 * CAP_SYS_NICE and CAP_IPC_LOCK) it logs one warning and elects as usual.
 * Read from /proc/PID/stat (rt_priority, policy) and /proc/PID/status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { requireCapability } from '@baton/core';
import { hasTool, labCapability, withLab } from './lab/lab.js';
import { batonYaml, startBaton, type BatonVrrpOptions } from './lab/baton-node.js';
import { childPids } from './helpers/admin.js';

const cap = labCapability();
const SCHED_OTHER = 0;
const SCHED_RR = 2;

/** rt_priority and policy (fields 40 and 41 of /proc/PID/stat, counted after the command name). */
function scheduling(pid: number): { rtPriority: number; policy: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state).
  return { rtPriority: Number(fields[40 - 3]), policy: Number(fields[41 - 3]) };
}
const vmLckKb = (pid: number) => Number(/VmLck:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1);
const vrrpChild = (pid: number) => {
  const [child] = childPids(pid, 'vrrp/child.js');
  assert.ok(child, 'a VRRP child runs');
  return child;
};

test('vrrp_scheduling: the VRRP child runs SCHED_RR at the configured priority with memory locked; reload changes it', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const vip = lab.ip(100);
    const opts: BatonVrrpOptions = { vip, priority: 150, extraYaml: 'vrrp_scheduling: { realtime_priority: 15, lock_memory: true }' };
    const n = await startBaton(lab, 'lb1', opts);
    await n.proc.waitLine(/entering MASTER/, 3000);
    const child = vrrpChild(n.proc.child.pid!);
    assert.deepEqual(scheduling(child), { rtPriority: 15, policy: SCHED_RR });
    assert.ok(vmLckKb(child) > 0, `VmLck ${vmLckKb(child)} kB`);
    // The data plane is not touched: the daemon itself runs as any process.
    assert.deepEqual(scheduling(n.proc.child.pid!), { rtPriority: 0, policy: SCHED_OTHER });
    assert.equal(vmLckKb(n.proc.child.pid!), 0);
    t.diagnostic(`child ${child}: ${JSON.stringify(scheduling(child))}, VmLck ${vmLckKb(child)} kB`);

    writeFileSync(n.yamlPath, batonYaml('lb1', { ...opts, extraYaml: 'vrrp_scheduling: { realtime_priority: 30, lock_memory: false }' }));
    const mark = n.proc.lines.length;
    n.proc.signal('SIGHUP');
    await n.proc.waitLine(/config reloaded/, 5000, mark);
    assert.equal(vrrpChild(n.proc.child.pid!), child, 'same child');
    assert.deepEqual(scheduling(child), { rtPriority: 30, policy: SCHED_RR });
    assert.equal(vmLckKb(child), 0);

    // Locked again, then stopped: the child unlocks before it exits, so V8's teardown is clean.
    writeFileSync(n.yamlPath, batonYaml('lb1', opts));
    const mark2 = n.proc.lines.length;
    n.proc.signal('SIGHUP');
    await n.proc.waitLine(/config reloaded/, 5000, mark2);
    assert.ok(vmLckKb(child) > 0);
    n.proc.signal('SIGTERM');
    await n.proc.waitLine(/\bstopped\b/, 10_000, mark2);
    await new Promise((r) => setTimeout(r, 500));
    assert.doesNotMatch(n.proc.text(), /Fatal error|Check failed|exited unexpectedly/);
  });
});

test('vrrp_scheduling: the defaults are SCHED_RR 10 with memory not locked', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const n = await startBaton(lab, 'lb1', { vip: lab.ip(100), priority: 150 });
    await n.proc.waitLine(/entering MASTER/, 3000);
    const child = vrrpChild(n.proc.child.pid!);
    assert.deepEqual(scheduling(child), { rtPriority: 10, policy: SCHED_RR });
    assert.equal(vmLckKb(child), 0);
  });
});

test('vrrp_scheduling: realtime_priority 0 and lock_memory false leave the child as any process', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const n = await startBaton(lab, 'lb1', { vip: lab.ip(100), priority: 150, extraYaml: 'vrrp_scheduling: { realtime_priority: 0, lock_memory: false }' });
    await n.proc.waitLine(/entering MASTER/, 3000);
    const child = vrrpChild(n.proc.child.pid!);
    assert.deepEqual(scheduling(child), { rtPriority: 0, policy: SCHED_OTHER });
    assert.equal(vmLckKb(child), 0);
    assert.equal(n.proc.count(/vrrp scheduling/), 0);
  });
});

test('vrrp_scheduling: without CAP_SYS_NICE and CAP_IPC_LOCK, one warning and a normal election', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok && hasTool('setpriv'), cap.ok ? 'setpriv (util-linux) is not installed' : cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const n = await startBaton(lab, 'lb1', { vip: lab.ip(100), priority: 150, extraYaml: 'vrrp_scheduling: { lock_memory: true }', wrapper: ['setpriv', '--bounding-set', '-sys_nice,-ipc_lock', '--'] });
    await n.proc.waitLine(/entering MASTER/, 3000);
    const child = vrrpChild(n.proc.child.pid!);
    assert.deepEqual(scheduling(child), { rtPriority: 0, policy: SCHED_OTHER });
    assert.equal(vmLckKb(child), 0);
    assert.equal(n.proc.count(/vrrp scheduling not applied/), 1, n.proc.text());
    assert.match(n.proc.lines.find((l) => /vrrp scheduling not applied/.test(l.text))!.text, /realtime_priority,lock_memory/);
  });
});
