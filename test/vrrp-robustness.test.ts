/**
 * VRRP acceptance: what a Baton node must ignore, and count. Unicast
 * election and failover with a non-peer injecting adverts; a VRRPv2 peer
 * with the wrong password; malformed packets (random bytes, truncated, bad
 * checksum, TTL 64) at 1,000/s for 10 s. Counters are read from the
 * `vrrp stats` line the daemon logs on SIGUSR2. Each test builds and always
 * destroys its own lab.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import { AddrWatch, epochNow, hasVip, startBaton, type Proc } from './lab/baton-node.js';
import type { InjectRequest } from './lab/vrrp-inject.js';

const cap = labCapability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const injector = join(import.meta.dirname, 'lab', 'vrrp-inject.js');

async function inject(lab: Lab, node: string, r: InjectRequest): Promise<{ sent: Record<string, number>; errors: number; ms: number }> {
  // Well inside the test's own timeout, so a stuck injector is reported with its output.
  const out = await lab.exec(node, [process.execPath, injector, JSON.stringify(r)], { timeoutMs: 30_000 });
  const last = out.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`the injector printed no summary (exit ${out.code}); stdout: ${JSON.stringify(out.stdout)} stderr: ${JSON.stringify(out.stderr)}`);
  return JSON.parse(last) as { sent: Record<string, number>; errors: number; ms: number };
}

/** Asks the daemon for its counters (SIGUSR2) and parses the `vrrp stats` line. */
async function stats(p: Proc): Promise<{ dropped: number; drops: Record<string, number>; transitions: string }> {
  const from = p.lines.length;
  p.signal('SIGUSR2');
  const line = (await p.waitLine(/vrrp stats/, 3000, from)).text;
  const drops: Record<string, number> = {};
  const d = /drops="?([^"\s]*)"?/.exec(line)?.[1] ?? '-';
  if (d !== '-') for (const kv of d.split(',')) drops[kv.split('=')[0] ?? ''] = Number(kv.split('=')[1]);
  return { dropped: Number(/dropped=(\d+)/.exec(line)?.[1]), drops, transitions: /transitions="?([^"\s]*)"?/.exec(line)?.[1] ?? '' };
}

const transitionsOf = (p: Proc) => p.count(/VI_1 entering /);

test('unicast: two peers elect and fail over; a non-peer is dropped and counted', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'bad'], async (lab) => {
    const vip = lab.ip(100);
    const a1 = lab.node('lb1').addr;
    const a2 = lab.node('lb2').addr;
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150, unicastPeers: [a2] });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100, unicastPeers: [a1] });
    await n1.proc.waitLine(/entering MASTER/, 3000);
    await n2.proc.waitLine(/entering BACKUP/, 3000);
    const w2 = new AddrWatch(lab, 'lb2');
    await sleep(300);

    // A higher-priority advert from outside the peer list, to both nodes.
    const base = { src: lab.node('bad').addr, kinds: ['advert' as const], count: 50, ratePerSec: 100, vrid: 51, version: 3 as const, priority: 254, vips: [vip], advertIntervalMs: 100 };
    await inject(lab, 'bad', { ...base, dst: a1 });
    await inject(lab, 'bad', { ...base, dst: a2 });
    const s1 = await stats(n1.proc);
    const s2 = await stats(n2.proc);
    t.diagnostic(`non-peer drops: lb1 ${JSON.stringify(s1.drops)}, lb2 ${JSON.stringify(s2.drops)}`);
    assert.equal(s1.drops['unknown-source'], 50);
    assert.equal(s2.drops['unknown-source'], 50);
    assert.equal(await hasVip(lab, 'lb1', vip), true, 'lb1 still master');
    assert.equal(transitionsOf(n1.proc), 2, 'lb1: init→backup→master only');
    assert.equal(transitionsOf(n2.proc), 1, 'lb2: init→backup only');

    const killedAt = epochNow();
    n1.proc.signal('SIGKILL');
    const moved = (await w2.wait(vip, true, 3000)).at - killedAt;
    t.diagnostic(`unicast SIGKILL failover: ${moved.toFixed(0)} ms`);
    assert.ok(moved <= 3 * 100 + ((256 - 100) * 100) / 256 + 100, `failover ${moved} ms`);
  });
});

test('auth: a VRRPv2 peer with the wrong password is ignored and counted', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'bad'], async (lab) => {
    const vip = lab.ip(100);
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150, version: 2, advertInterval: '1s', authPassEnv: 'VRRP_PASS' }, { VRRP_PASS: 'secret1' });
    await n1.proc.waitLine(/entering MASTER/, 6000);
    const r = await inject(lab, 'bad', {
      src: lab.node('bad').addr, dst: '224.0.0.18', kinds: ['advert'], count: 30, ratePerSec: 30,
      vrid: 51, version: 2, priority: 254, vips: [vip], authPass: 'wrong', advertIntervalMs: 1000,
    });
    await sleep(200);
    const s = await stats(n1.proc);
    t.diagnostic(`sent ${JSON.stringify(r.sent)}; drops ${JSON.stringify(s.drops)}`);
    assert.equal(s.drops['bad-auth'], 30);
    assert.equal(transitionsOf(n1.proc), 2, 'init→backup→master only');
    assert.equal(await hasVip(lab, 'lb1', vip), true);
  });
});

test('malformed packets at 1,000/s for 10 s: no crash, no state change, all counted', { timeout: 90_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'bad'], async (lab) => {
    const vip = lab.ip(100);
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150 });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100 });
    await n1.proc.waitLine(/entering MASTER/, 3000);
    await n2.proc.waitLine(/entering BACKUP/, 3000);
    const before1 = await stats(n1.proc);
    const before2 = await stats(n2.proc);
    const r = await inject(lab, 'bad', {
      src: lab.node('bad').addr, dst: '224.0.0.18', kinds: ['random', 'truncated', 'bad-checksum', 'ttl64'],
      count: 10_000, ratePerSec: 1000, vrid: 51, version: 3, priority: 254, vips: [vip], advertIntervalMs: 100,
    });
    await sleep(300);
    const s1 = await stats(n1.proc);
    const s2 = await stats(n2.proc);
    t.diagnostic(`sent ${JSON.stringify(r.sent)} in ${r.ms} ms; lb1 drops ${JSON.stringify(s1.drops)}; lb2 drops ${JSON.stringify(s2.drops)}`);
    assert.equal(r.errors, 0);
    for (const [s, b] of [[s1, before1], [s2, before2]] as const) {
      assert.equal(s.dropped - b.dropped, 10_000, 'every packet counted');
      assert.equal(s.drops['bad-ttl'], 2500);
      assert.equal(s.drops['too-short'], 2500);
      assert.ok((s.drops['bad-checksum'] ?? 0) >= 2500);
    }
    assert.equal(n1.proc.exited || n2.proc.exited, false, 'both daemons alive');
    assert.equal(transitionsOf(n1.proc), 2, 'lb1: init→backup→master only');
    assert.equal(transitionsOf(n2.proc), 1, 'lb2: init→backup only');
    assert.equal(await hasVip(lab, 'lb1', vip), true);
    assert.equal(await hasVip(lab, 'lb2', vip), false);
  });
});
