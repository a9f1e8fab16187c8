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

/** `ip -o addr` lines of eth0 that hold `vip`, with their lifetimes. */
const lifetimeOf = async (lab: Lab, node: string, vip: string): Promise<number | 'forever' | undefined> => {
  const line = (await lab.exec(node, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.split('\n').find((l) => l.includes(` ${vip} `));
  if (!line) return undefined;
  const m = /valid_lft (\S+)/.exec(line);
  return m?.[1] === 'forever' ? 'forever' : Number(m?.[1]?.replace(/sec$/, ''));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('netlink VIPs with a lifetime: renewed while held, re-added when lost, dropped by the kernel once their holder is killed', async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab) => {
    const vip = `${lab.ip(100)}/24`;
    const args = { interface: 'eth0', vips: [vip], lifetimeS: 3, refreshMs: 500 };
    const lb1 = await Agent.start(lab, 'lb1');
    try {
      await lb1.call('vips.add', args);
      const first = await lifetimeOf(lab, 'lb1', vip);
      assert.ok(typeof first === 'number' && first <= 3, `a VIP added with a 3 s lifetime shows valid_lft ${first}`);

      // Held: renewed, still there well past its lifetime.
      await sleep(4500);
      const renewed = await lifetimeOf(lab, 'lb1', vip);
      assert.ok(typeof renewed === 'number' && renewed >= 2, `renewed every 500 ms, valid_lft ${renewed}`);

      // Removed by hand while held: the next renewal adds it again.
      await lab.exec('lb1', ['ip', 'addr', 'del', vip, 'dev', 'eth0']);
      await sleep(1200);
      assert.deepEqual((await lb1.call('vips.present', args)).present, [vip], 'a held VIP removed by hand is added again');

      // Released: no renewal adds it back.
      await lb1.call('vips.remove', args);
      await sleep(1200);
      assert.deepEqual((await lb1.call('vips.present', args)).present, [], 'a released VIP stays off');

      // Held again, then its holder dies without a word: the kernel drops it within the lifetime.
      await lb1.call('vips.add', args);
      await sleep(700);
      await lb1.kill();
      const killedAt = Date.now();
      assert.notEqual(await lifetimeOf(lab, 'lb1', vip), undefined, 'the VIP outlives its holder for a moment');
      let goneAfter = -1;
      while (Date.now() - killedAt < 6000) {
        if ((await lifetimeOf(lab, 'lb1', vip)) === undefined) {
          goneAfter = Date.now() - killedAt;
          break;
        }
        await sleep(100);
      }
      t.diagnostic(`the VIP left the interface ${goneAfter} ms after its holder was killed`);
      assert.ok(goneAfter >= 0 && goneAfter <= 4600, `the kernel dropped the VIP ${goneAfter} ms after the kill (lifetime 3 s)`);
    } finally {
      await lb1.stop();
    }
  });
});
