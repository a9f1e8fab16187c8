/**
 * Wire compatibility with keepalived (Debian's 2.2.7) over the raw
 * protocol-112 transport, each in its own namespace on one lab segment:
 * keepalived's adverts reach our transport intact (TTL 255, TOS 0xC0, to
 * 224.0.0.18), and adverts our transport sends are accepted by keepalived:
 * it sees a higher-priority master and goes BACKUP. VRRPv3 also proves the
 * source address is exactly the one the checksum's pseudo-header used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { decodeIpPacket, encodeAdvert, type Advert } from '@baton/vrrp';
import { Agent } from './lab/agent-client.js';
import { hasTool, labCapability, withLab, type Lab } from './lab/lab.js';

const cap = labCapability();
const ok = cap.ok && hasTool('keepalived');
const reason = cap.ok ? 'keepalived is not installed' : cap.reason;

interface Keepalived {
  child: ChildProcess;
  log: () => string;
  waitLog(re: RegExp, timeoutMs: number): Promise<void>;
}

function startKeepalived(lab: Lab, node: string, conf: string): Keepalived {
  const file = join(lab.dir, `${node}.conf`);
  writeFileSync(file, conf);
  // Fresh pid files per run: keepalived refuses to start over a stale one.
  const child = lab.spawn(node, [
    'keepalived', '-n', '-l', '-D', '-f', file,
    '-p', join(lab.dir, `${node}.pid`), '-r', join(lab.dir, `${node}-vrrp.pid`),
  ]);
  let log = '';
  const waiters = new Set<() => void>();
  const onData = (s: string) => {
    log += s;
    for (const w of [...waiters]) w();
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  return {
    child,
    log: () => log,
    waitLog: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!re.test(log)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`keepalived log never matched ${re} in ${timeoutMs} ms:\n${log}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

const cases = [
  { version: 2 as const, advertInt: '1', everyMs: 1000 },
  { version: 3 as const, advertInt: '0.1', everyMs: 100 },
];

for (const c of cases) {
  test(`VRRPv${c.version}: keepalived's adverts reach our transport, ours make keepalived go BACKUP`, async (t) => {
    if (!requireCapability(t, ok, reason)) return;
    await withLab(['ka', 'bt'], async (lab) => {
      const vip = lab.ip(100);
      const ka = startKeepalived(
        lab,
        'ka',
        `global_defs {
  router_id ka
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  version ${c.version}
  virtual_router_id 51
  priority 100
  advert_int ${c.advertInt}
  virtual_ipaddress {
    ${vip}/24
  }
}
`,
      );
      const bt = await Agent.start(lab, 'bt');
      const opened = await bt.call('transport.open', { interface: 'eth0' });
      assert.equal(opened.primaryAddr, lab.node('bt').addr);
      await ka.waitLog(/Entering MASTER STATE/, 10_000);

      // keepalived -> our transport
      const kaAddr = lab.node('ka').addr;
      const ev = await bt.waitFor((e) => e.ev === 'packet' && typeof e.hex === 'string' && e.hex.slice(24, 32) === ipHex(kaAddr), 5000, 'an advert from keepalived');
      const packet = Buffer.from(ev.hex as string, 'hex');
      assert.equal(packet[1], 0xc0, 'TOS 0xC0');
      assert.equal(packet[8], 255, 'TTL 255');
      const decoded = decodeIpPacket(packet, { version: c.version, vrid: 51, virtualIps: [vip] });
      assert.ok(decoded.ok, `keepalived's advert decodes: ${decoded.ok ? '' : decoded.error}`);
      assert.equal(decoded.value.srcAddr, kaAddr);
      assert.equal(decoded.value.dstAddr, '224.0.0.18');
      assert.equal(decoded.value.advert.priority, 100);
      assert.deepEqual(decoded.value.advert.addresses, [vip]);

      // our transport -> keepalived: a higher-priority master appears
      const advert: Advert =
        c.version === 2
          ? { version: 2, vrid: 51, priority: 200, advertIntervalS: 1, authType: 0, addresses: [vip] }
          : { version: 3, vrid: 51, priority: 200, maxAdvertIntervalCs: 10, addresses: [vip] };
      const payload = encodeAdvert(advert, { srcAddr: lab.node('bt').addr, dstAddr: '224.0.0.18' });
      await bt.call('transport.send', { hex: payload.toString('hex'), dst: '224.0.0.18', everyMs: c.everyMs });
      await ka.waitLog(/Entering MASTER STATE[\s\S]*Entering BACKUP STATE/, 5000);
      assert.match(ka.log(), new RegExp(`\\(VI_1\\) Master received advert from ${lab.node('bt').addr.replace(/\./g, '\\.')} with higher priority 200, ours 100`));
      assert.doesNotMatch(ka.log(), /invalid checksum|bad checksum|ttl/i, 'keepalived found nothing wrong with our adverts');
      const stopped = await bt.call('transport.stop');
      const stats = stopped.stats as { sent: number; sendErrors: number };
      assert.ok(stats.sent >= 1 && stats.sendErrors === 0, JSON.stringify(stats));
      await bt.stop();
    });
  });
}

test('unicast mode: adverts go to the peer, and only the peers are heard', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt', 'rogue'], async (lab) => {
    const vip = lab.ip(100);
    const kaAddr = lab.node('ka').addr;
    const btAddr = lab.node('bt').addr;
    const ka = startKeepalived(
      lab,
      'ka',
      `vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  unicast_src_ip ${kaAddr}
  unicast_peer {
    ${btAddr}
  }
  virtual_ipaddress {
    ${vip}/24
  }
}
`,
    );
    const bt = await Agent.start(lab, 'bt');
    await bt.call('transport.open', { interface: 'eth0', unicastPeers: [kaAddr] });
    const rogue = await Agent.start(lab, 'rogue');
    await rogue.call('transport.open', { interface: 'eth0', unicastPeers: [btAddr] });
    const fake = encodeAdvert({ version: 2, vrid: 51, priority: 250, advertIntervalS: 1, authType: 0, addresses: [vip] }, { srcAddr: lab.node('rogue').addr, dstAddr: btAddr });
    await rogue.call('transport.send', { hex: fake.toString('hex'), dst: btAddr, everyMs: 200 });

    const ev = await bt.waitFor((e) => e.ev === 'packet', 5000, 'a unicast advert from keepalived');
    const decoded = decodeIpPacket(Buffer.from(ev.hex as string, 'hex'), { version: 2, vrid: 51 });
    assert.ok(decoded.ok);
    assert.equal(decoded.value.srcAddr, kaAddr);
    assert.equal(decoded.value.dstAddr, btAddr, 'sent to us, not to the group');

    const advert = encodeAdvert({ version: 2, vrid: 51, priority: 200, advertIntervalS: 1, authType: 0, addresses: [vip] }, { srcAddr: btAddr, dstAddr: kaAddr });
    await bt.call('transport.send', { hex: advert.toString('hex'), dst: kaAddr, everyMs: 1000 });
    await ka.waitLog(/Entering MASTER STATE[\s\S]*Entering BACKUP STATE/, 5000);
    await new Promise((r) => setTimeout(r, 500));
    const fromRogue = bt.events.filter((e) => e.ev === 'packet' && (e.hex as string).slice(24, 32) === ipHex(lab.node('rogue').addr));
    assert.equal(fromRogue.length, 0, 'packets from a non-peer are dropped');
    const stats = (await bt.call('transport.stop')).stats as { dropped: number };
    assert.ok(stats.dropped >= 1, `rogue adverts counted as dropped: ${JSON.stringify(stats)}`);
    await rogue.stop();
    await bt.stop();
  });
});

function ipHex(addr: string): string {
  return Buffer.from(addr.split('.').map(Number)).toString('hex');
}
