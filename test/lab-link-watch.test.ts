/** Link tracking from rtnetlink notifications: down and up seen within 100 ms, for an admin down and for a lost carrier. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { Agent } from './lab/agent-client.js';
import { labCapability, withLab } from './lab/lab.js';

const cap = labCapability();
const epochMs = () => performance.timeOrigin + performance.now();

test('link-watch sees `ip link set eth0 down` and up again within 100 ms', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const lb1 = await Agent.start(lab, 'lb1');
    const watching = await lb1.call('link.watch', { interfaces: ['eth0', 'missing0'] });
    assert.deepEqual(watching.snapshot, { eth0: true, missing0: false });

    const t0 = epochMs();
    await lab.exec('lb1', ['ip', 'link', 'set', 'eth0', 'down']);
    const down = await lb1.waitFor((e) => e.ev === 'link' && e.name === 'eth0' && e.up === false, 2000, 'eth0 down');
    const downMs = down.at - t0;

    const t1 = epochMs();
    await lab.exec('lb1', ['ip', 'link', 'set', 'eth0', 'up']);
    const up = await lb1.waitFor((e) => e.ev === 'link' && e.name === 'eth0' && e.up === true, 2000, 'eth0 up');
    const upMs = up.at - t1;

    t.diagnostic(`down seen after ${downMs.toFixed(1)} ms, up after ${upMs.toFixed(1)} ms (from before starting ip)`);
    assert.ok(downMs < 100, `down after ${downMs.toFixed(1)} ms`);
    assert.ok(upMs < 100, `up after ${upMs.toFixed(1)} ms`);
    assert.equal(lb1.events.filter((e) => e.ev === 'link').length, 2, 'one event per change, none for the missing interface');
    await lb1.stop();
  });
});

test('link-watch sees a lost carrier (cable cut at the bridge) as down', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const lb1 = await Agent.start(lab, 'lb1');
    await lb1.call('link.watch', { interfaces: ['eth0'] });
    const t0 = epochMs();
    await lab.cutLink('lb1');
    const down = await lb1.waitFor((e) => e.ev === 'link' && e.up === false, 2000, 'carrier lost');
    await lab.healLink('lb1');
    await lb1.waitFor((e) => e.ev === 'link' && e.up === true, 2000, 'carrier back');
    const ms = down.at - t0;
    t.diagnostic(`carrier loss seen after ${ms.toFixed(1)} ms`);
    assert.ok(ms < 100, `${ms.toFixed(1)} ms`);
    await lb1.stop();
  });
});
