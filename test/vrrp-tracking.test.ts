/**
 * VRRP acceptance: tracking. A track script with weight 0 that fails, and
 * the tracked interface taken down, each put the master in FAULT (VIP
 * released, the backup takes over); recovery goes back to BACKUP and then
 * to MASTER by preemption. One lab, always destroyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { labCapability, withLab } from './lab/lab.js';
import { AddrWatch, hasVip, startBaton } from './lab/baton-node.js';

const cap = labCapability();

test('tracking: failing weight-0 script and interface down mean FAULT; recovery means BACKUP then MASTER', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2'], async (lab) => {
    const vip = lab.ip(100);
    const flag = join(lab.dir, 'fail');
    const n1 = await startBaton(lab, 'lb1', {
      vip,
      priority: 150,
      trackInterfaces: ['eth0'],
      trackScripts: [{ command: ['/bin/sh', '-c', `test ! -e ${flag}`], interval: '100ms', weight: 0 }],
    });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100 });
    await n1.proc.waitLine(/VI_1 entering MASTER/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP/, 3000);
    const w2 = new AddrWatch(lab, 'lb2');
    await new Promise((r) => setTimeout(r, 300));

    // The script fails: lb1 FAULT, lb2 takes the VIP.
    let from1 = n1.proc.lines.length;
    let from2 = n2.proc.lines.length;
    writeFileSync(flag, '');
    const fault = await n1.proc.waitLine(/VI_1 entering FAULT state/, 3000, from1);
    assert.match(fault.text, /reason=fault:script:0/);
    await n2.proc.waitLine(/VI_1 entering MASTER/, 3000, from2);
    await w2.wait(vip, true, 2000);
    assert.equal(await hasVip(lab, 'lb1', vip), false, 'a node in FAULT holds no VIP');
    t.diagnostic(`script fail → lb2 master ${((await n2.proc.waitLine(/VI_1 entering MASTER/, 10, from2)).at - fault.at).toFixed(0)} ms after lb1 entered FAULT`);

    // It recovers: BACKUP, then MASTER by preemption.
    from1 = n1.proc.lines.length;
    from2 = n2.proc.lines.length;
    rmSync(flag);
    await n1.proc.waitLine(/VI_1 entering BACKUP/, 3000, from1);
    await n1.proc.waitLine(/VI_1 entering MASTER/, 3000, from1);
    await n2.proc.waitLine(/VI_1 entering BACKUP/, 3000, from2);

    // The tracked interface goes down: FAULT; lb2 takes over (through the segment it still has).
    from1 = n1.proc.lines.length;
    from2 = n2.proc.lines.length;
    await lab.exec('lb1', ['ip', 'link', 'set', 'eth0', 'down']);
    const ifFault = await n1.proc.waitLine(/VI_1 entering FAULT state/, 3000, from1);
    assert.match(ifFault.text, /reason=fault:interface:eth0/);
    await n2.proc.waitLine(/VI_1 entering MASTER/, 3000, from2);
    assert.equal(await hasVip(lab, 'lb2', vip), true);

    // Back up: BACKUP, then MASTER again.
    from1 = n1.proc.lines.length;
    from2 = n2.proc.lines.length;
    await lab.exec('lb1', ['ip', 'link', 'set', 'eth0', 'up']);
    await n1.proc.waitLine(/VI_1 entering BACKUP/, 3000, from1);
    await n1.proc.waitLine(/VI_1 entering MASTER/, 3000, from1);
    await n2.proc.waitLine(/VI_1 entering BACKUP/, 3000, from2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await hasVip(lab, 'lb1', vip), true);
    assert.equal(await hasVip(lab, 'lb2', vip), false);
  });
});
