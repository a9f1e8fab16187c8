/**
 * VRRP fuzzing in the lab: a burst of 3,000 seeded mutations (bit flips,
 * truncations, extensions, byte swaps, field values) of a captured
 * keepalived advert, made to outrank the master (priority 254, our VRID and
 * VIP), at a running Baton pair. Only mutations the codec drops are sent,
 * so a receiver that accepted any of them would see a higher-priority
 * master and change state. Both nodes must count exactly the predicted drop
 * reasons and neither may change state; then the unmutated advert is sent
 * and the master must yield, which shows the burst could have moved it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { readPcap, vrrpPackets, VECTORS_DIR, V3_CAPTURE, fixVrrpChecksum } from '@baton/vrrp/testing';
import { parseIpv4 } from '@baton/vrrp';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import { hasVip, startBaton, type Proc } from './lab/baton-node.js';
import type { InjectRequest } from './lab/vrrp-inject.js';

const cap = labCapability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const injector = join(import.meta.dirname, 'lab', 'vrrp-inject.js');
const GROUP = '224.0.0.18';

async function inject(lab: Lab, node: string, r: InjectRequest) {
  const out = await lab.exec(node, [process.execPath, injector, JSON.stringify(r)], { timeoutMs: 60_000 });
  const last = out.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`the injector printed no summary (exit ${out.code}); stdout: ${JSON.stringify(out.stdout)} stderr: ${JSON.stringify(out.stderr)}`);
  return JSON.parse(last) as { sent: Record<string, number>; errors: number; ms: number; predicted: Record<string, number> };
}

async function stats(p: Proc): Promise<{ dropped: number; drops: Record<string, number> }> {
  const from = p.lines.length;
  p.signal('SIGUSR2');
  const line = (await p.waitLine(/vrrp stats/, 3000, from)).text;
  const drops: Record<string, number> = {};
  const d = /drops="?([^"\s]*)"?/.exec(line)?.[1] ?? '-';
  if (d !== '-') for (const kv of d.split(',')) drops[kv.split('=')[0] ?? ''] = Number(kv.split('=')[1]);
  return { dropped: Number(/dropped=(\d+)/.exec(line)?.[1]), drops };
}

const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys({ ...a, ...b }).map((k) => [k, (a[k] ?? 0) - (b[k] ?? 0)]).filter(([, v]) => v !== 0));

test('fuzz: 3,000 mutated keepalived adverts at a running pair: each dropped for the predicted reason, no state change', { timeout: 120_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'bad'], async (lab) => {
    const vip = lab.ip(100);
    const src = lab.node('bad').addr;
    // The captured keepalived advert (VRID 51), made ours: the lab's VIP, priority 254, checksum for the injector's source.
    const captured = vrrpPackets(readPcap(join(VECTORS_DIR, V3_CAPTURE)))[0]!;
    const base = Buffer.from(captured.ip.subarray(20));
    base[2] = 254;
    base.writeUInt32BE(parseIpv4(vip)!, 8);
    fixVrrpChecksum(base, parseIpv4(src), parseIpv4(GROUP));

    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150 });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100 });
    await n1.proc.waitLine(/entering MASTER/, 3000);
    await n2.proc.waitLine(/entering BACKUP/, 3000);
    await sleep(300);
    const transitions = (p: Proc) => p.count(/VI_1 entering /);
    const before = [await stats(n1.proc), await stats(n2.proc)];
    const r = await inject(lab, 'bad', {
      src, dst: GROUP, kinds: ['mutated'], count: 3000, ratePerSec: 1000, vrid: 51, version: 3, priority: 254, vips: [vip],
      mutateBase: base.toString('hex'), mutateSeed: 5798, mutateChecks: { version: 3, vrid: 51, virtualIps: [vip] },
    });
    await sleep(300);
    const after = [await stats(n1.proc), await stats(n2.proc)];
    t.diagnostic(`sent ${JSON.stringify(r.sent)} in ${r.ms} ms; predicted ${JSON.stringify(r.predicted)}`);
    assert.equal(r.errors, 0);
    assert.equal(r.sent.mutated, 3000);
    for (const [i, name] of ['lb1', 'lb2'].entries()) {
      const got = diff(after[i]!.drops, before[i]!.drops);
      t.diagnostic(`${name} drops during the burst: ${JSON.stringify(got)}`);
      assert.equal(after[i]!.dropped - before[i]!.dropped, 3000, `${name}: every packet dropped`);
      assert.deepEqual(got, r.predicted, `${name}: drop reasons`);
    }
    assert.equal(n1.proc.exited || n2.proc.exited, false, 'both daemons alive');
    assert.equal(transitions(n1.proc), 2, 'lb1: init→backup→master only');
    assert.equal(transitions(n2.proc), 1, 'lb2: init→backup only');
    assert.equal(await hasVip(lab, 'lb1', vip), true);
    assert.equal(await hasVip(lab, 'lb2', vip), false);

    // The same advert unmutated outranks lb1: it yields, so the burst could have moved it.
    await inject(lab, 'bad', { src, dst: GROUP, kinds: ['advert'], count: 10, ratePerSec: 100, vrid: 51, version: 3, priority: 254, vips: [vip], advertIntervalMs: 100 });
    await n1.proc.waitLine(/VI_1 entering BACKUP/, 3000, 0);
    assert.ok(transitions(n1.proc) > 2, 'lb1 yielded to the unmutated advert');
  });
});
