/**
 * The VRRP child's log and signals, on a one-node lab: a transition is one
 * line (`VI_1 entering MASTER state`); a reload to `log_level: debug`
 * reaches the child (its debug line for an ignored SIGUSR2 appears), SIGUSR2
 * to the child leaves it running, and a reload to `log_level: warn` silences
 * the child's info lines (the `vrrp stats` line of SIGUSR2). The lab is
 * always destroyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { requireCapability } from '@baton/core';
import { labCapability, withLab } from './lab/lab.js';
import { startBaton } from './lab/baton-node.js';
import { childPids } from './helpers/admin.js';

const cap = labCapability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('vrrp child: a transition is one line; log_level reaches the child on reload; SIGUSR2 to the child is ignored', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const n1 = await startBaton(lab, 'lb1', { vip: lab.ip(100), priority: 150 });
    const p = n1.proc;
    await p.waitLine(/VI_1 entering MASTER state/, 5000);
    await sleep(300);
    const aboutMaster = p.lines.filter((l) => /entering MASTER|state change.*to=master/.test(l.text)).map((l) => l.text);
    assert.equal(aboutMaster.length, 1, `one line for the transition to MASTER, got:\n${aboutMaster.join('\n')}`);

    const daemonPid = p.child.pid!;
    const [childPid] = childPids(daemonPid, 'child.js');
    assert.ok(childPid, 'the VRRP child runs');
    const yaml = readFileSync(n1.yamlPath, 'utf8');

    let from = p.lines.length;
    writeFileSync(n1.yamlPath, `${yaml}log_level: debug\n`);
    p.signal('SIGHUP');
    await p.waitLine(/config reloaded/, 5000, from);
    process.kill(childPid, 'SIGUSR2');
    await p.waitLine(new RegExp(` DEBUG signal ignored signal=SIGUSR2 pid=${childPid} `), 3000, from);
    p.signal('SIGUSR2');
    await p.waitLine(/ INFO vrrp stats instance=VI_1 state=master /, 3000, from);
    assert.deepEqual(childPids(daemonPid, 'child.js'), [childPid], 'the same VRRP child, not restarted');

    from = p.lines.length;
    writeFileSync(n1.yamlPath, `${yaml}log_level: warn\n`);
    p.signal('SIGHUP');
    await p.waitLine(/ INFO reloading /, 5000, from);
    // Nothing at warn says the reload is over; an unchanged VRRP config applies in milliseconds.
    await sleep(1000);
    from = p.lines.length;
    p.signal('SIGUSR2');
    await sleep(1000);
    assert.deepEqual(
      p.lines.slice(from).map((l) => l.text),
      [],
      'log_level: warn: no vrrp stats (info) line',
    );
    assert.equal(p.exited, false);
    assert.deepEqual(childPids(daemonPid, 'child.js'), [childPid]);
  });
});
