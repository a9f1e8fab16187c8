/**
 * The Router shell on a FakeClock with recording fake ports: timers, sends,
 * VIPs, GARP bursts, notifications, drop counting, config validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FakeClock, type Logger, type LogFields } from '@baton/core';
import {
  Router,
  CountingStats,
  RecordingGarpSender,
  RecordingNotifier,
  RecordingVipManager,
  decodeAdvert,
  internetChecksum,
  encodeAdvert,
  encodeIpPacket,
  type Advert,
  type AdvertTransport,
  type RouterConfig,
} from '../src/index.js';
import { readPcap, vrrpPackets, VECTORS_DIR, V2_CAPTURE, V3_CAPTURE } from './pcap.js';

const ME = '10.203.0.11';
const PEER = '10.203.0.12';
const VIP = '10.203.0.100';
const GROUP = '224.0.0.18';

class CapturingTransport implements AdvertTransport {
  readonly sent: Array<{ atMs: number; dstAddr: string; payload: Buffer }> = [];
  constructor(private readonly clock: FakeClock) {}
  send(payload: Buffer, dstAddr: string, done?: (sent: boolean) => void): void {
    this.sent.push({ atMs: this.clock.now(), dstAddr, payload: Buffer.from(payload) });
    done?.(true);
  }
  priorities(): number[] {
    return this.sent.map((s) => s.payload[2] as number);
  }
}

class RecordingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  debug(message: string, fields?: LogFields) {
    this.lines.push({ level: 'debug', message, ...(fields ? { fields } : {}) });
  }
  info(message: string, fields?: LogFields) {
    this.lines.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: LogFields) {
    this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: LogFields) {
    this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
  child(): Logger {
    return this;
  }
}

const BASE: RouterConfig = {
  name: 'VI_1',
  vrid: 51,
  priority: 150,
  version: 3,
  advertIntervalMs: 1000,
  primaryAddr: ME,
  virtualIps: [VIP + '/24'],
};

function setup(over: Partial<RouterConfig> = {}) {
  const clock = new FakeClock(0);
  const transport = new CapturingTransport(clock);
  const vips = new RecordingVipManager();
  const garp = new RecordingGarpSender(clock);
  const notifier = new RecordingNotifier();
  const stats = new CountingStats();
  const logger = new RecordingLogger();
  const config = { ...BASE, ...over };
  const router = new Router({ config, clock, transport, vips, garp, notifier, stats, logger });
  return { clock, transport, vips, garp, notifier, stats, logger, router, config };
}

function packetFrom(src: string, priority: number, over: Partial<Advert> = {}, version: 2 | 3 = 3): Buffer {
  const advert = (
    version === 3
      ? { version: 3, vrid: 51, priority, maxAdvertIntervalCs: 100, addresses: [VIP], ...over }
      : { version: 2, vrid: 51, priority, advertIntervalS: 1, authType: 0, addresses: [VIP], ...over }
  ) as Advert;
  return encodeIpPacket(encodeAdvert(advert, { srcAddr: src, dstAddr: GROUP }), { srcAddr: src, dstAddr: GROUP });
}

const MDI_150 = 3000 + (106 * 1000) / 256; // 3414.0625

test('start -> backup; silence -> master after exactly Master_Down_Interval', () => {
  const t = setup();
  t.router.start();
  assert.equal(t.router.state, 'backup');
  t.clock.advance(MDI_150 - 0.0625);
  assert.equal(t.router.state, 'backup');
  t.clock.advance(0.0625);
  assert.equal(t.router.state, 'master');
  assert.equal(t.router.masterAddr, ME);
  assert.deepEqual(t.vips.calls, ['add']);
  assert.equal(t.garp.count, 5);
  assert.deepEqual(t.transport.sent.map((s) => [s.atMs, s.dstAddr]), [[MDI_150, GROUP]]);
  assert.deepEqual(t.notifier.path, ['init>backup', 'backup>master']);
  assert.deepEqual(
    t.notifier.changes.map((c) => [c.instance, c.reason, c.priority, c.atMs]),
    [
      ['VI_1', 'startup', 150, 0],
      ['VI_1', 'master-down-timer', 150, MDI_150],
    ],
  );
  assert.equal(t.stats.transitions.get('master'), 1);
});

test('master: one advert per interval, payload equal to keepalived\'s', () => {
  const t = setup({ version: 2 });
  t.router.start();
  t.clock.advance(MDI_150);
  t.clock.advance(10_000);
  assert.equal(t.transport.sent.length, 11);
  for (let i = 1; i < t.transport.sent.length; i++) {
    assert.equal((t.transport.sent[i]?.atMs ?? 0) - (t.transport.sent[i - 1]?.atMs ?? 0), 1000);
  }
  assert.equal(t.stats.sent, 11);
  // same config as lb1 in the v2 capture: the bytes are keepalived's
  const frame1 = vrrpPackets(readPcap(join(VECTORS_DIR, V2_CAPTURE)))[0];
  assert.ok(frame1);
  assert.deepEqual(t.transport.sent[0]?.payload, frame1.ip.subarray(20));
});

test('v3 at 100 ms: the sent advert equals keepalived\'s bytes, the priority-0 one too', async () => {
  const t = setup({ advertIntervalMs: 100 });
  const packets = vrrpPackets(readPcap(join(VECTORS_DIR, V3_CAPTURE)));
  t.router.start();
  t.clock.advance(300 + (106 * 100) / 256);
  assert.equal(t.router.state, 'master');
  assert.deepEqual(t.transport.sent[0]?.payload, packets[0]?.ip.subarray(20));
  await t.router.shutdown();
  const stop = packets.find((p) => p.number === 36);
  assert.deepEqual(t.transport.sent.at(-1)?.payload, stop?.ip.subarray(20));
});

test('GARP: burst of 5 on becoming master, another 5 after garp delay, refresh, spacing', () => {
  const t = setup({ garp: { repeat: 3, intervalMs: 100, delayMs: 5000, refreshMs: 60_000 } });
  t.router.start();
  t.clock.advance(MDI_150);
  assert.equal(t.garp.count, 1);
  t.clock.advance(200);
  assert.deepEqual(t.garp.atMs, [MDI_150, MDI_150 + 100, MDI_150 + 200]);
  t.clock.advance(5000);
  assert.deepEqual(t.garp.atMs.slice(3), [MDI_150 + 5000, MDI_150 + 5100, MDI_150 + 5200]);
  t.clock.advance(60_000);
  assert.equal(t.garp.atMs.at(-1), MDI_150 + 60_000);
});

test('GARP: leaving master cancels the pending bursts', () => {
  const t = setup({ garp: { repeat: 3, intervalMs: 100, delayMs: 2000 } });
  t.router.start();
  t.clock.advance(MDI_150 + 50);
  assert.equal(t.garp.count, 1);
  t.router.handlePacket(packetFrom(PEER, 200));
  assert.equal(t.router.state, 'backup');
  t.clock.advance(3000); // less than Master_Down_Interval: still backup
  assert.equal(t.router.state, 'backup');
  assert.equal(t.garp.count, 1);
});

test('default GARP: 5 at once, 5 more 5 s later (keepalived defaults, as in the captures)', () => {
  const t = setup();
  t.router.start();
  t.clock.advance(MDI_150);
  assert.equal(t.garp.count, 5);
  t.clock.advance(5000);
  assert.equal(t.garp.count, 10);
  t.clock.advance(60_000);
  assert.equal(t.garp.count, 10);
});

test('backup hears a master: stays backup, adopts its v3 interval', () => {
  const t = setup({ priority: 100 });
  t.router.start();
  t.clock.advance(1000);
  t.router.handlePacket(packetFrom(PEER, 150, { maxAdvertIntervalCs: 50 } as Partial<Advert>));
  assert.equal(t.router.masterAddr, PEER);
  assert.equal(t.router.snapshot.masterAdverIntervalMs, 500);
  t.clock.advance(1500 + (156 * 500) / 256 - 1);
  assert.equal(t.router.state, 'backup');
  t.clock.advance(1);
  assert.equal(t.router.state, 'master');
  assert.equal(t.stats.received, 1);
});

test('master hears a higher priority: backup, VIPs removed; lower priority: advert at once', () => {
  const t = setup();
  t.router.start();
  t.clock.advance(MDI_150);
  t.router.handlePacket(packetFrom(PEER, 100));
  assert.equal(t.router.state, 'master');
  assert.equal(t.transport.sent.length, 2);
  assert.equal(t.transport.sent[1]?.atMs, MDI_150);
  t.router.handlePacket(packetFrom(PEER, 200));
  assert.equal(t.router.state, 'backup');
  assert.deepEqual(t.vips.calls, ['add', 'remove']);
  assert.equal(t.router.masterAddr, PEER);
  const n = t.transport.sent.length;
  t.clock.advance(2000);
  assert.equal(t.transport.sent.length, n, 'a backup does not advertise');
});

test('shutdown as master: priority 0 sent, VIPs removed, no timer left', async () => {
  const t = setup();
  t.router.start();
  t.clock.advance(MDI_150 + 5000);
  await t.router.shutdown();
  assert.equal(t.router.state, 'init');
  assert.equal(t.transport.priorities().at(-1), 0);
  assert.deepEqual(t.vips.calls, ['add', 'remove']);
  assert.equal(t.vips.owned, false);
  assert.equal(t.clock.pending(), 0);
  assert.deepEqual(t.notifier.path, ['init>backup', 'backup>master', 'master>init']);
});

test('shutdown as backup: nothing sent, no timer left', async () => {
  const t = setup();
  t.router.start();
  await t.router.shutdown();
  assert.equal(t.transport.sent.length, 0);
  assert.equal(t.clock.pending(), 0);
});

test('fault and recover: master releases with priority 0; recover waits as backup', () => {
  const t = setup();
  t.router.start();
  t.clock.advance(MDI_150);
  t.router.setFault('interface:eth0', true);
  assert.equal(t.router.state, 'fault');
  assert.equal(t.transport.priorities().at(-1), 0);
  t.router.setFault('script:chk', true);
  t.router.setFault('interface:eth0', false);
  assert.equal(t.router.state, 'fault');
  assert.deepEqual(t.router.faults, ['script:chk']);
  const n = t.transport.sent.length;
  t.clock.advance(10_000);
  assert.equal(t.transport.sent.length, n, 'fault is silent');
  t.router.setFault('script:chk', false);
  assert.equal(t.router.state, 'backup');
  t.clock.advance(MDI_150);
  assert.equal(t.router.state, 'master');
  assert.deepEqual(t.notifier.path, ['init>backup', 'backup>master', 'master>fault', 'fault>backup', 'backup>master']);
  assert.equal(t.notifier.changes[2]?.reason, 'fault:interface:eth0');
});

test('a fault set before start starts in fault', () => {
  const t = setup();
  t.router.setFault('service:write', true);
  t.router.start();
  assert.equal(t.router.state, 'fault');
});

test('adjustPriority: a master advertises its new priority at once', () => {
  const t = setup();
  t.router.start();
  t.clock.advance(MDI_150);
  t.router.adjustPriority(-60);
  assert.equal(t.router.effectivePriority, 90);
  assert.deepEqual(t.transport.priorities(), [150, 90]);
  t.router.adjustPriority(60);
  assert.deepEqual(t.transport.priorities(), [150, 90, 150]);
});

test('drops are counted by reason and logged rate-limited', () => {
  const t = setup();
  t.router.start();
  for (let i = 0; i < 20; i++) t.router.handlePacket(packetFrom(PEER, 150, { vrid: 52 }));
  t.router.handlePacket(Buffer.from([1, 2, 3]));
  t.router.handlePacket(packetFrom(ME, 150));
  assert.equal(t.stats.dropped.get('vrid-mismatch'), 20);
  assert.equal(t.stats.dropped.get('too-short'), 1);
  assert.equal(t.stats.dropped.get('own-packet'), 1);
  assert.equal(t.stats.received, 0);
  const warns = t.logger.lines.filter((l) => l.message === 'vrrp packet dropped');
  assert.equal(warns.filter((l) => l.fields?.reason === 'vrid-mismatch').length, 5);
  assert.equal(warns[0]?.fields?.src, PEER);
  // after the window, one line reports how many were suppressed
  t.clock.advance(60_000);
  t.router.handlePacket(packetFrom(PEER, 150, { vrid: 52 }));
  assert.equal(t.logger.lines.filter((l) => l.fields?.reason === 'vrid-mismatch').at(-1)?.fields?.suppressed, 15);
});

test('v2: interval mismatch and wrong password are dropped; the password is sent', () => {
  const t = setup({ version: 2, authPass: 'secret' });
  t.router.start();
  t.router.handlePacket(packetFrom(PEER, 200, {}, 2));
  assert.equal(t.stats.dropped.get('bad-auth'), 1);
  const withPass = (over: Partial<Advert>) =>
    encodeIpPacket(encodeAdvert({ version: 2, vrid: 51, priority: 200, advertIntervalS: 1, authType: 1, addresses: [VIP], ...over } as Advert, { srcAddr: PEER, dstAddr: GROUP, authPass: 'secret' }), {
      srcAddr: PEER,
      dstAddr: GROUP,
    });
  t.router.handlePacket(withPass({ advertIntervalS: 3 } as Partial<Advert>));
  assert.equal(t.stats.dropped.get('interval-mismatch'), 1);
  t.router.handlePacket(withPass({}));
  assert.equal(t.stats.received, 1);
  assert.equal(t.router.masterAddr, PEER);
  t.clock.advance(10_000);
  assert.equal(t.router.state, 'master');
  assert.deepEqual(t.transport.sent[0]?.payload.subarray(12), Buffer.from('secret\0\0'));
});

test('unicast: one advert per peer, each with its own v3 checksum; others are not heard', () => {
  const peers = ['10.203.0.12', '10.203.0.13'];
  const t = setup({ unicastPeers: peers });
  t.router.start();
  t.clock.advance(MDI_150);
  assert.deepEqual(t.transport.sent.map((s) => s.dstAddr), peers);
  for (const s of t.transport.sent) {
    assert.ok(decodeAdvert(s.payload, { srcAddr: ME, dstAddr: s.dstAddr }).ok);
    assert.deepEqual(decodeAdvert(s.payload, { srcAddr: ME, dstAddr: GROUP }), { ok: false, error: 'bad-checksum' });
  }
  assert.equal(t.stats.sent, 2);
  t.router.handlePacket(packetFrom('10.203.0.14', 200));
  assert.equal(t.stats.dropped.get('unknown-source'), 1);
  assert.equal(t.router.state, 'master');
});

test('v3_checksum_as_v2: sent without the pseudo-header', () => {
  const t = setup({ v3ChecksumAsV2: true });
  t.router.start();
  t.clock.advance(MDI_150);
  assert.ok(decodeAdvert(t.transport.sent[0]?.payload ?? Buffer.alloc(0)).ok);
});

test('a failing VIP manager is logged, never an unhandled rejection', async () => {
  const t = setup();
  t.vips.failWith = new Error('RTNETLINK answers: Operation not permitted');
  t.router.start();
  t.clock.advance(MDI_150);
  await t.router.shutdown();
  const errors = t.logger.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]?.fields?.error), /not permitted/);
});

test('the owner (255) is master at start', () => {
  const t = setup({ priority: 255 });
  t.router.start();
  assert.equal(t.router.state, 'master');
  assert.deepEqual(t.transport.priorities(), [255]);
});

test('bad config is refused with VRRP_CONFIG', () => {
  const bad: Array<Partial<RouterConfig>> = [
    { vrid: 0 },
    { vrid: 256 },
    { priority: 0 },
    { priority: 256 },
    { version: 2, advertIntervalMs: 1500 },
    { version: 3, advertIntervalMs: 5 },
    { version: 3, advertIntervalMs: 41_000 },
    { primaryAddr: 'eth0' },
    { virtualIps: [] },
    { virtualIps: ['10.0.0.300/24'] },
    { unicastPeers: ['x'] },
    { version: 3, authPass: 'secret' },
    { preemptDelayMs: -1 },
  ];
  for (const over of bad) {
    assert.throws(() => setup(over), { code: 'VRRP_CONFIG' }, JSON.stringify(over));
  }
});

test('a port that throws is logged and the router carries on', () => {
  const t = setup();
  let calls = 0;
  const router = new Router({
    config: BASE,
    clock: t.clock,
    transport: {
      send() {
        calls++;
        throw new Error('EPERM');
      },
    },
    vips: t.vips,
    garp: t.garp,
    logger: t.logger,
  });
  router.start();
  t.clock.advance(MDI_150 + 2000);
  assert.equal(router.state, 'master');
  assert.equal(calls, 3);
  assert.equal(t.vips.owned, true);
  assert.equal(t.logger.lines.filter((l) => l.message === 'vrrp action failed').length, 3);
});

/** A v3 advert sent unicast from `src` to us, with the given TTL (routed peers arrive below 255). */
function unicastFrom(src: string, priority: number, ttl: number, over: Partial<Advert> = {}): Buffer {
  const advert = { version: 3, vrid: 51, priority, maxAdvertIntervalCs: 100, addresses: [VIP], ...over } as Advert;
  return encodeIpPacket(encodeAdvert(advert, { srcAddr: src, dstAddr: ME }), { srcAddr: src, dstAddr: ME, ttl });
}

test('unicast: a routed peer (TTL 61) is heard, so a master steps down and a backup stays backup; a non-peer is not', () => {
  const t = setup({ unicastPeers: [PEER] });
  t.router.start();
  t.clock.advance(MDI_150);
  assert.equal(t.router.state, 'master');
  t.router.handlePacket(unicastFrom(PEER, 200, 61));
  assert.equal(t.router.state, 'backup', 'the higher-priority peer behind a router wins');
  assert.equal(t.router.masterAddr, PEER);
  // its adverts, every second, keep us backup well past Master_Down_Interval
  for (let i = 0; i < 10; i++) {
    t.clock.advance(1000);
    t.router.handlePacket(unicastFrom(PEER, 200, 61));
  }
  assert.equal(t.router.state, 'backup');
  assert.equal(t.stats.received, 11);
  assert.equal(t.stats.dropped.get('bad-ttl'), undefined);
  // a higher priority from outside the peer list, at any TTL, is not heard
  t.router.handlePacket(unicastFrom('10.203.0.14', 254, 61));
  t.router.handlePacket(unicastFrom('10.203.0.14', 254, 255));
  assert.equal(t.stats.dropped.get('unknown-source'), 2);
  assert.equal(t.router.masterAddr, PEER);
});

test('multicast: a TTL below 255 is still dropped (RFC 5798 §7.1)', () => {
  const t = setup({ priority: 100 });
  t.router.start();
  const ip = Buffer.from(packetFrom(PEER, 200));
  ip[8] = 254;
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(internetChecksum(ip.subarray(0, 20)), 10);
  t.router.handlePacket(ip);
  assert.equal(t.stats.dropped.get('bad-ttl'), 1);
  assert.equal(t.router.masterAddr, null);
});

test('a v3 advert with Max Adver Int 0 is dropped: no backup takes over at once', () => {
  const t = setup({ priority: 100 });
  t.router.start();
  t.clock.advance(1000);
  t.router.handlePacket(packetFrom(PEER, 150));
  t.clock.advance(500);
  t.router.handlePacket(packetFrom(PEER, 150, { maxAdvertIntervalCs: 0 } as Partial<Advert>));
  assert.equal(t.stats.dropped.get('bad-advert-interval'), 1);
  assert.equal(t.router.snapshot.masterAdverIntervalMs, 1000, 'the interval is not adopted');
  t.clock.advance(1);
  assert.equal(t.router.state, 'backup');
  // the last valid advert still rules: take over one Master_Down_Interval after it
  t.clock.advance(3000 + (156 * 1000) / 256 - 501 - 1);
  assert.equal(t.router.state, 'backup');
  t.clock.advance(1);
  assert.equal(t.router.state, 'master');
});

test('an advert whose address list differs but overlaps is processed, counted apart from drops, logged once per peer', () => {
  const VIP2 = '10.203.0.101';
  const t = setup({ priority: 100, virtualIps: [VIP + '/24', VIP2 + '/24'] });
  t.router.start();
  // the master still runs the old config: only VIP. Its adverts keep us backup.
  for (let i = 0; i < 30; i++) {
    t.router.handlePacket(packetFrom(PEER, 150));
    t.clock.advance(1000);
  }
  assert.equal(t.router.state, 'backup', 'no dual master while the config change rolls out');
  assert.equal(t.router.masterAddr, PEER);
  assert.equal(t.stats.received, 30);
  assert.equal(t.stats.addressMismatches, 30);
  assert.equal(t.stats.dropped.size, 0, 'not a drop');
  const lines = () => t.logger.lines.filter((l) => l.message.startsWith('vrrp advert lists other virtual ips'));
  assert.equal(lines().length, 1);
  assert.deepEqual(lines()[0]?.fields, { src: PEER, theirs: VIP, ours: `${VIP},${VIP2}`, suppressed: undefined });
  // a second peer gets its own line
  t.router.handlePacket(packetFrom('10.203.0.13', 140));
  assert.equal(lines().length, 2);
  assert.equal(lines()[1]?.fields?.src, '10.203.0.13');
  // a minute later the first peer is logged again, with the count in between
  t.clock.advance(30_000);
  t.router.handlePacket(packetFrom(PEER, 150));
  assert.equal(lines().length, 3);
  assert.equal(lines()[2]?.fields?.suppressed, 29);
  // the same on VRRPv2
  const v2 = setup({ priority: 100, version: 2, virtualIps: [VIP, VIP2] });
  v2.router.start();
  for (let i = 0; i < 10; i++) {
    v2.router.handlePacket(packetFrom(PEER, 150, {}, 2));
    v2.clock.advance(1000);
  }
  assert.equal(v2.router.state, 'backup');
  assert.equal(v2.stats.addressMismatches, 10);
  assert.equal(v2.stats.dropped.size, 0);
});

test('an advert with none of our addresses (another cluster on our VRID) is dropped as no-common-address', () => {
  const t = setup({ priority: 100 });
  t.router.start();
  for (let i = 0; i < 5; i++) {
    t.router.handlePacket(packetFrom(PEER, 150, { addresses: ['10.203.0.200'] }));
    t.clock.advance(1000);
  }
  assert.equal(t.stats.dropped.get('no-common-address'), 5);
  assert.equal(t.stats.addressMismatches, 0);
  assert.equal(t.router.state, 'master', 'that cluster does not silence ours');
});

/** A transport whose socket can fail and come back, and whose sends can be refused, on the fake clock. */
class FlakyTransport implements AdvertTransport {
  up = true;
  /** While up, the kernel still refuses every send (EPERM from a firewall, say). */
  refuse = false;
  readonly attempts: Array<{ atMs: number; priority: number; sent: boolean }> = [];
  private readonly listeners = new Set<(s: { up: boolean; error?: string }) => void>();
  constructor(private readonly clock: FakeClock) {}
  send(payload: Buffer, _dst: string, done?: (sent: boolean) => void): void {
    const sent = this.up && !this.refuse;
    this.attempts.push({ atMs: this.clock.now(), priority: payload[2] as number, sent });
    done?.(sent);
  }
  onStatus(listener: (s: { up: boolean; error?: string }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  set(up: boolean): void {
    this.up = up;
    for (const l of [...this.listeners]) l(up ? { up } : { up, error: 'EBADF' });
  }
  get subscribers(): number {
    return this.listeners.size;
  }
}

function flakySetup(over: Partial<RouterConfig> = {}) {
  const t = setup(over);
  const transport = new FlakyTransport(t.clock);
  const router = new Router({ config: t.config, clock: t.clock, transport, vips: t.vips, garp: t.garp, notifier: t.notifier, stats: t.stats, logger: t.logger });
  return { ...t, transport, router };
}

test('transport down: a master goes to FAULT (reason transport) and releases the VIPs; back up: backup, then master again', () => {
  const t = flakySetup();
  t.router.start();
  t.clock.advance(MDI_150 + 2000);
  assert.equal(t.router.state, 'master');
  assert.equal(t.stats.sent, 3);
  t.transport.set(false);
  assert.equal(t.router.state, 'fault');
  assert.deepEqual(t.router.faults, ['transport']);
  assert.equal(t.notifier.changes.at(-1)?.reason, 'fault:transport');
  assert.deepEqual(t.vips.calls, ['add', 'remove']);
  assert.equal(t.vips.owned, false);
  // the priority-0 advert was tried, but the dead socket did not send it: not counted
  assert.deepEqual(t.transport.attempts.at(-1), { atMs: MDI_150 + 2000, priority: 0, sent: false });
  assert.equal(t.stats.sent, 3);
  // while down: no advert tried, no takeover, however long
  const tried = t.transport.attempts.length;
  t.clock.advance(60_000);
  assert.equal(t.router.state, 'fault');
  assert.equal(t.transport.attempts.length, tried);
  // back: backup first (RFC 5798 §6.4.1), master after Master_Down_Interval when nobody else speaks
  const backAt = t.clock.now();
  t.transport.set(true);
  assert.equal(t.router.state, 'backup');
  assert.deepEqual(t.router.faults, []);
  assert.equal(t.notifier.changes.at(-1)?.reason, 'recover');
  t.clock.advance(MDI_150);
  assert.equal(t.router.state, 'master');
  assert.equal(lastChangeAt(t.notifier), backAt + MDI_150);
  assert.equal(t.stats.sent, 4);
  assert.deepEqual(t.notifier.path, ['init>backup', 'backup>master', 'master>fault', 'fault>backup', 'backup>master']);
});

function lastChangeAt(n: RecordingNotifier): number | undefined {
  return n.changes.at(-1)?.atMs;
}

test('transport down: a backup goes to FAULT instead of taking over (no dual master from a deaf node)', () => {
  const t = flakySetup({ priority: 100 });
  t.router.start();
  t.clock.advance(1000);
  t.router.handlePacket(packetFrom(PEER, 150));
  t.transport.set(false);
  assert.equal(t.router.state, 'fault');
  t.clock.advance(30_000);
  assert.equal(t.router.state, 'fault', 'the master-down timer does not fire while deaf');
  assert.equal(t.vips.calls.length, 0);
  assert.equal(t.transport.attempts.length, 0);
  t.transport.set(true);
  assert.equal(t.router.state, 'backup');
  t.router.handlePacket(packetFrom(PEER, 150));
  t.clock.advance(2000);
  assert.equal(t.router.state, 'backup');
  // a fault set for another reason outlives the transport's recovery
  t.router.setFault('interface:eth0', true);
  t.transport.set(false);
  t.transport.set(true);
  assert.equal(t.router.state, 'fault');
  assert.deepEqual(t.router.faults, ['interface:eth0']);
});

test('adverts count as sent only when the transport sent them', () => {
  const t = flakySetup();
  t.router.start();
  t.clock.advance(MDI_150);
  assert.equal(t.stats.sent, 1);
  t.transport.refuse = true;
  t.clock.advance(5000);
  assert.equal(t.transport.attempts.length, 6);
  assert.equal(t.stats.sent, 1, 'five refused sends are not counted');
  // a refused send is not a dead socket: still master
  assert.equal(t.router.state, 'master');
  t.transport.refuse = false;
  t.clock.advance(1000);
  assert.equal(t.stats.sent, 2);
});

test('a transport down before start starts in FAULT; shutdown unsubscribes', async () => {
  const t = flakySetup();
  t.transport.set(false);
  t.router.start();
  assert.equal(t.router.state, 'fault');
  t.transport.set(true);
  assert.equal(t.router.state, 'backup');
  assert.equal(t.transport.subscribers, 1);
  await t.router.shutdown();
  assert.equal(t.transport.subscribers, 0);
  t.transport.set(false);
  t.transport.set(true);
  assert.equal(t.router.state, 'init');
});
