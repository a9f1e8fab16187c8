/** VIPs over rtnetlink inside a namespace: add, list, remove, idempotence, leftovers, ordering. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { Agent } from './lab/agent-client.js';
import { labCapability, reach, withLab, type Lab } from './lab/lab.js';

const cap = labCapability();

const addrsOf = async (lab: Lab, node: string) =>
  (await lab.exec(node, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout
    .split('\n')
    .map((l) => /inet (\S+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);

test('netlink VIP add / list / remove inside a namespace', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'client'], async (lab) => {
    const vips = [`${lab.ip(100)}/24`, `${lab.ip(101)}/32`];
    const args = { interface: 'eth0', vips };
    const lb1 = await Agent.start(lab, 'lb1');

    assert.deepEqual((await lb1.call('vips.present', args)).present, []);
    await lb1.call('vips.add', args);
    assert.deepEqual((await lb1.call('vips.present', args)).present, vips);
    // The kernel lists primaries before secondaries: the /32 VIP (a primary of
    // its own prefix) comes before the /24 one, but the node's address stays first.
    const listed = await addrsOf(lab, 'lb1');
    assert.equal(listed[0], lab.node('lb1').cidr, 'the primary address stays first');
    assert.deepEqual(listed.slice(1).sort(), [...vips].sort());
    assert.equal(await reach(lab, 'client', lab.ip(100)), 'connected', 'the VIP answers on the segment');

    await lb1.call('vips.add', args); // already there: not an error
    assert.equal((await addrsOf(lab, 'lb1')).length, 3);

    await lb1.call('vips.remove', args);
    assert.deepEqual(await addrsOf(lab, 'lb1'), [lab.node('lb1').cidr]);
    await lb1.call('vips.remove', args); // already gone: not an error

    // Left over by a crashed run: found and removed at start.
    await lab.exec('lb1', ['ip', 'addr', 'add', vips[0]!, 'dev', 'eth0']);
    assert.deepEqual((await lb1.call('vips.removeLeftovers', args)).removed, [vips[0]]);
    assert.deepEqual(await addrsOf(lab, 'lb1'), [lab.node('lb1').cidr]);

    // Overlapping calls are applied in call order: the last one wins.
    await Promise.all([lb1.call('vips.add', args), lb1.call('vips.remove', args), lb1.call('vips.add', args), lb1.call('vips.remove', args)]);
    assert.deepEqual((await lb1.call('vips.present', args)).present, []);
    await Promise.all([lb1.call('vips.remove', args), lb1.call('vips.add', args)]);
    assert.deepEqual((await lb1.call('vips.present', args)).present, vips);
    await lb1.call('vips.remove', args);

    // A missing interface is a failure with a stable code for add, nothing for remove.
    const missing = { interface: 'nope0', vips };
    await assert.rejects(lb1.call('vips.add', missing), { code: 'vip-add-failed' });
    await lb1.call('vips.remove', missing);
    await lb1.stop();
  });
});
