/**
 * VRRP acceptance: interoperation with Debian's keepalived on the same VRID,
 * VRRPv2 and VRRPv3. keepalived (150) master + Baton (120) backup; keepalived
 * killed: Baton takes the VIP; keepalived back at 100 stays backup under
 * Baton; Baton killed: keepalived takes the VIP. tshark, in the keepalived
 * namespace, decodes Baton's adverts as valid VRRP with a good checksum.
 * And notify: Baton passes a notify script exactly the arguments keepalived
 * passes for start → master → SIGTERM. Each test's lab is always destroyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { hasTool, labCapability, withLab, type Lab } from './lab/lab.js';
import { AddrWatch, hasVip, keepalivedConf, startBaton, startKeepalived } from './lab/baton-node.js';

const cap = labCapability();
const ok = cap.ok && hasTool('keepalived') && hasTool('tshark');
const reason = cap.ok ? 'keepalived or tshark is not installed' : cap.reason;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function interop(lab: Lab, version: 2 | 3, t: { diagnostic(s: string): void }): Promise<void> {
  const vip = lab.ip(100);
  const interval = version === 2 ? '1' : '0.1';
  const batonInterval = version === 2 ? '1s' : '100ms';
  const wLb = new AddrWatch(lab, 'lb');
  const wKa = new AddrWatch(lab, 'ka');

  // keepalived 150 master, Baton 120 backup.
  let ka = startKeepalived(lab, 'ka', keepalivedConf({ priority: 150, version, advertInterval: interval, vip }));
  await ka.waitLine(/Entering MASTER STATE/, 10_000);
  const lb = await startBaton(lab, 'lb', { vip, priority: 120, version, advertInterval: batonInterval });
  await lb.proc.waitLine(/VI_1 entering BACKUP/, 3000);
  await sleep(version === 2 ? 4000 : 600);
  assert.equal(lb.proc.count(/entering MASTER/), 0, 'Baton (120) stays backup under keepalived (150)');
  assert.equal(await hasVip(lab, 'ka', vip), true);

  // keepalived killed: Baton takes the VIP. tshark watches Baton's adverts from the keepalived side.
  const capture = lab.exec('ka', ['tshark', '-n', '-i', 'eth0', '-a', `duration:${version === 2 ? 4 : 2}`, '-f', 'ip proto 112', '-T', 'fields',
    '-e', 'ip.src', '-e', 'ip.ttl', '-e', 'vrrp.version', '-e', 'vrrp.virt_rtr_id', '-e', 'vrrp.prio', '-e', 'vrrp.checksum.status', '-e', '_ws.expert'], { timeoutMs: 20_000 });
  await sleep(1000);
  const killedAt = performance.timeOrigin + performance.now();
  ka.signal('SIGKILL');
  const moved = (await wLb.wait(vip, true, 10_000)).at - killedAt;
  t.diagnostic(`v${version}: keepalived SIGKILL → Baton owns the VIP after ${moved.toFixed(0)} ms`);
  const rows = (await capture).stdout.trim().split('\n').map((l) => l.split('\t'));
  const fromBaton = rows.filter((r) => r[0] === lab.node('lb').addr);
  t.diagnostic(`v${version}: tshark saw ${fromBaton.length} Baton adverts, e.g. ${JSON.stringify(fromBaton[0])}`);
  assert.ok(fromBaton.length >= 1, 'tshark saw Baton adverts');
  for (const r of fromBaton) {
    assert.deepEqual(r.slice(1, 6), ['255', String(version), '51', '120', '1'], 'TTL 255, version, VRID, priority, checksum good');
    assert.equal(r[6] ?? '', '', 'no expert info (malformed/checksum)');
  }
  await lab.exec('ka', ['ip', 'addr', 'del', `${vip}/24`, 'dev', 'eth0'], { check: false });

  // keepalived back at 100: backup under Baton (120). Then Baton killed: keepalived takes the VIP.
  ka = startKeepalived(lab, 'ka', keepalivedConf({ priority: 100, version, advertInterval: interval, vip }));
  await ka.waitLine(/Entering BACKUP STATE/, 10_000);
  await sleep(version === 2 ? 4000 : 600);
  assert.equal(ka.count(/Entering MASTER STATE/), 0, 'keepalived (100) stays backup under Baton (120)');
  assert.equal(await hasVip(lab, 'lb', vip), true);
  const mark = wKa.mark;
  const killed2 = performance.timeOrigin + performance.now();
  lb.proc.signal('SIGKILL');
  const moved2 = (await wKa.wait(vip, true, 10_000, mark)).at - killed2;
  t.diagnostic(`v${version}: Baton SIGKILL → keepalived owns the VIP after ${moved2.toFixed(0)} ms`);
  ka.signal('SIGTERM');
  await ka.waitExit(5000);
}

test('keepalived interop, VRRPv3 at 100 ms', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'lb'], (lab) => interop(lab, 3, t));
});

test('keepalived interop, VRRPv2 at 1 s', { timeout: 90_000 }, async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'lb'], (lab) => interop(lab, 2, t));
});

test('notify: Baton passes the same arguments as keepalived for start → master → SIGTERM', { timeout: 60_000 }, async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'lb'], async (lab) => {
    const script = (out: string) => {
      const path = `${out}.sh`;
      writeFileSync(path, `#!/bin/sh\necho "$*" >> ${out}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const kaOut = join(lab.dir, 'ka-notify.txt');
    const lbOut = join(lab.dir, 'lb-notify.txt');
    // Different VRIDs: each is alone in its instance.
    const ka = startKeepalived(lab, 'ka', keepalivedConf({ priority: 150, version: 3, advertInterval: '0.1', vip: lab.ip(101), routerId: 61, notify: script(kaOut) }));
    const lb = await startBaton(lab, 'lb', { vip: lab.ip(102), priority: 150, routerId: 62, notify: [script(lbOut)] });
    await ka.waitLine(/Entering MASTER STATE/, 10_000);
    await lb.proc.waitLine(/VI_1 entering MASTER/, 3000);
    await sleep(500);
    ka.signal('SIGTERM');
    lb.proc.signal('SIGTERM');
    await Promise.all([ka.waitExit(10_000), lb.proc.waitExit(10_000)]);
    await sleep(300);
    const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n') : []);
    const kaSeq = read(kaOut);
    const lbSeq = read(lbOut);
    t.diagnostic(`keepalived: ${JSON.stringify(kaSeq)}; Baton: ${JSON.stringify(lbSeq)}`);
    assert.ok(kaSeq.length >= 2, 'keepalived ran its notify script');
    assert.deepEqual(lbSeq, kaSeq);
  });
});
