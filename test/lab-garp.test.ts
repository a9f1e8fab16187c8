/**
 * Gratuitous ARP over AF_PACKET moves a VIP: a client that cached the old
 * owner's MAC for the VIP points at the new owner right after one GARP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { Agent } from './lab/agent-client.js';
import { labCapability, reach, withLab, type Lab } from './lab/lab.js';

const cap = labCapability();

async function neighMac(lab: Lab, node: string, ip: string): Promise<string | undefined> {
  const out = (await lab.exec(node, ['ip', 'neigh', 'show', ip, 'dev', 'eth0'])).stdout;
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

test('GARP from the new owner updates the ARP cache of a client that had the old MAC', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'client'], async (lab) => {
    const vip = lab.ip(100);
    const [mac1, mac2] = [await lab.mac('lb1'), await lab.mac('lb2')];
    assert.notEqual(mac1, mac2);

    // lb1 owns the VIP; the client talks to it and caches lb1's MAC.
    await lab.exec('lb1', ['ip', 'addr', 'add', `${vip}/24`, 'dev', 'eth0']);
    assert.equal(await reach(lab, 'client', vip), 'connected');
    assert.equal(await neighMac(lab, 'client', vip), mac1);

    // Failover: lb1 loses the VIP, lb2 takes it and sends one GARP per VIP.
    await lab.exec('lb1', ['ip', 'addr', 'del', `${vip}/24`, 'dev', 'eth0']);
    const lb2 = await Agent.start(lab, 'lb2');
    await lb2.call('vips.add', { interface: 'eth0', vips: [`${vip}/24`] });
    const t0 = performance.now();
    const sent = await lb2.call('garp.send', { interface: 'eth0', vips: [`${vip}/24`] });
    assert.equal(sent.mac, mac2);
    assert.equal(sent.sent, 1);
    assert.equal(sent.failures, 0);

    let now: string | undefined;
    for (let i = 0; i < 100; i++) {
      now = await neighMac(lab, 'client', vip);
      if (now === mac2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(now, mac2, "the client's cache points at lb2");
    t.diagnostic(`ARP cache updated ${(performance.now() - t0).toFixed(0)} ms after the GARP`);
    assert.equal(await reach(lab, 'client', vip), 'connected', 'and the VIP answers from lb2');
    await lb2.stop();
  });
});

test('opening a GARP sender on a missing interface fails with a stable code', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const lb1 = await Agent.start(lab, 'lb1');
    await assert.rejects(lb1.call('garp.send', { interface: 'nope0', vips: [lab.ip(100)] }), { code: 'no-such-interface' });
    await lb1.stop();
  });
});
