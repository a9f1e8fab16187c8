/**
 * Codec tests: the parse / encode / round-trip triad on every VRRP packet of
 * the keepalived 2.2.7 captures, keepalived's timing seen in them, one test
 * per malformed input, random and truncated buffers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  decodeAdvert,
  decodeIpPacket,
  encodeAdvert,
  encodeIpPacket,
  peekVrid,
  internetChecksum,
  skewTimeMs,
  advertIntervalMsOf,
  type Advert,
  type ReceiveChecks,
} from '../src/index.js';
import { readPcap, vrrpPackets, VECTORS_DIR, V2_CAPTURE, V3_CAPTURE } from './pcap.js';

const v2 = vrrpPackets(readPcap(join(VECTORS_DIR, V2_CAPTURE)));
const v3 = vrrpPackets(readPcap(join(VECTORS_DIR, V3_CAPTURE)));
const frame = (list: typeof v2, n: number) => {
  const f = list.find((p) => p.number === n);
  assert.ok(f, `frame ${n}`);
  return f;
};

const LB1 = '10.203.0.11';
const LB2 = '10.203.0.12';
const VIP = '10.203.0.100';
const GROUP = '224.0.0.18';

test('captures hold the expected VRRP frames', () => {
  assert.deepEqual(v2.map((p) => p.number), [1, 7, 8, 9, 10, 11, 17, 18, 19, 20, 26, 27, 28]);
  // every frame tshark lists as VRRP is read, with the same frame numbers
  const listed = readFileSync(join(VECTORS_DIR, V3_CAPTURE.replace('.pcap', '.txt')), 'utf8')
    .split('\n')
    .filter((l) => / VRRP /.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.deepEqual(v3.map((p) => p.number), listed);
});

for (const [name, packets, version] of [
  ['v2', v2, 2],
  ['v3', v3, 3],
] as const) {
  for (const p of packets) {
    test(`${name} frame ${p.number}: parse, encode, round trip`, () => {
      // parse
      const got = decodeIpPacket(p.ip, { version, vrid: 51, virtualIps: [VIP], ...(version === 2 ? { advertIntervalS: 1 } : {}) });
      assert.ok(got.ok, got.ok ? '' : got.error);
      const { srcAddr, dstAddr, ttl, advert } = got.value;
      assert.ok(srcAddr === LB1 || srcAddr === LB2);
      assert.equal(dstAddr, GROUP);
      assert.equal(ttl, 255);
      assert.equal(advert.version, version);
      assert.equal(advert.vrid, 51);
      assert.deepEqual(advert.addresses, [VIP]);
      assert.ok([0, 100, 150].includes(advert.priority));
      assert.equal(advertIntervalMsOf(advert), version === 2 ? 1000 : 100);
      // encode: the VRRP payload and the whole IP packet are byte-identical
      const payload = encodeAdvert(advert, { srcAddr, dstAddr });
      const ihl = ((p.ip[0] as number) & 15) * 4;
      assert.deepEqual(payload, p.ip.subarray(ihl));
      const ip = encodeIpPacket(payload, { srcAddr, dstAddr, tos: p.ip[1] as number, id: p.ip.readUInt16BE(4) });
      assert.deepEqual(ip, Buffer.from(p.ip));
      // round trip
      const again = decodeIpPacket(ip, {});
      assert.ok(again.ok);
      assert.deepEqual(again.value.advert, advert);
      assert.equal(peekVrid(p.ip), 51);
    });
  }
}

test('v2 frame 1: lb1 master advert, prio 150, adver_int 1 s, no auth', () => {
  const r = decodeIpPacket(frame(v2, 1).ip, {});
  assert.ok(r.ok);
  assert.deepEqual(r.value.advert, { version: 2, vrid: 51, priority: 150, advertIntervalS: 1, authType: 0, addresses: [VIP] });
  assert.equal(r.value.srcAddr, LB1);
});

test('v3 frame 1: lb1 master advert, prio 150, max_adver_int 10 cs', () => {
  const r = decodeIpPacket(frame(v3, 1).ip, {});
  assert.ok(r.ok);
  assert.deepEqual(r.value.advert, { version: 3, vrid: 51, priority: 150, maxAdvertIntervalCs: 10, addresses: [VIP] });
});

test('keepalived: priority 0 on SIGTERM, new master after Skew_Time (v2 and v3)', () => {
  for (const [list, stopFrame, takeFrame, version, intervalMs, lastFrame] of [
    [v2, 10, 11, 2, 1000, 28],
    [v3, 36, 37, 3, 100, 113],
  ] as const) {
    const stop = frame(list, stopFrame);
    const take = frame(list, takeFrame);
    const s = decodeIpPacket(stop.ip, {});
    const t = decodeIpPacket(take.ip, {});
    assert.ok(s.ok && t.ok);
    assert.equal(s.value.srcAddr, LB1);
    assert.equal(s.value.advert.priority, 0);
    assert.equal(t.value.srcAddr, LB2);
    assert.equal(t.value.advert.priority, 100);
    const gapMs = (take.timeUs - stop.timeUs) / 1000;
    const skew = skewTimeMs(version, 100, intervalMs); // v2 609.375, v3 60.9375
    assert.ok(Math.abs(gapMs - skew) < 5, `gap ${gapMs} ms vs skew ${skew} ms`);
    const last = decodeIpPacket(frame(list, lastFrame).ip, {});
    assert.ok(last.ok);
    assert.equal(last.value.srcAddr, LB2);
    assert.equal(last.value.advert.priority, 0);
  }
});

test('keepalived: the master advertises every Advertisement_Interval', () => {
  for (const [list, intervalMs] of [
    [v2, 1000],
    [v3, 100],
  ] as const) {
    const lb1 = list.filter((p) => {
      const r = decodeIpPacket(p.ip, {});
      return r.ok && r.value.srcAddr === LB1 && r.value.advert.priority === 150;
    });
    for (let i = 1; i < lb1.length; i++) {
      const gap = ((lb1[i] as (typeof lb1)[0]).timeUs - (lb1[i - 1] as (typeof lb1)[0]).timeUs) / 1000;
      assert.ok(Math.abs(gap - intervalMs) < 5, `gap ${gap}`);
    }
  }
});

// ---- checksums ---------------------------------------------------------

test('internet checksum: RFC 1071 §3 example', () => {
  const bytes = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(internetChecksum(bytes), ~0xddf2 & 0xffff);
});

test('v3 checksum: pseudo-header by default, v3_checksum_as_v2 leaves it out; both decode', () => {
  const advert: Advert = { version: 3, vrid: 51, priority: 150, maxAdvertIntervalCs: 10, addresses: [VIP] };
  const withPseudo = encodeAdvert(advert, { srcAddr: LB1, dstAddr: GROUP });
  const asV2 = encodeAdvert(advert, { srcAddr: LB1, dstAddr: GROUP, v3ChecksumAsV2: true });
  assert.notDeepEqual(withPseudo.subarray(6, 8), asV2.subarray(6, 8));
  assert.equal(withPseudo.readUInt16BE(6), 0x422d); // tshark: frame 1 of the v3 capture
  for (const bytes of [withPseudo, asV2]) {
    const r = decodeIpPacket(encodeIpPacket(bytes, { srcAddr: LB1, dstAddr: GROUP }), { version: 3 });
    assert.ok(r.ok, r.ok ? '' : r.error);
  }
  // the pseudo-header form depends on the addresses: another destination breaks it
  const r = decodeIpPacket(encodeIpPacket(withPseudo, { srcAddr: LB1, dstAddr: '10.203.0.12' }), {});
  assert.deepEqual(r, { ok: false, error: 'bad-checksum' });
});

test('v2 simple password: encoded NUL-padded, checked on receive', () => {
  const advert: Advert = { version: 2, vrid: 51, priority: 150, advertIntervalS: 1, authType: 1, addresses: [VIP] };
  const payload = encodeAdvert(advert, { srcAddr: LB1, dstAddr: GROUP, authPass: 'secret' });
  assert.equal(payload[4], 1);
  assert.deepEqual(payload.subarray(12), Buffer.from('secret\0\0'));
  const ip = encodeIpPacket(payload, { srcAddr: LB1, dstAddr: GROUP });
  const ok = decodeIpPacket(ip, { version: 2, authPass: 'secret' });
  assert.ok(ok.ok);
  assert.deepEqual(ok.value.advert, advert);
  // longer than 8 bytes: only the first 8 count, as keepalived
  const long = encodeAdvert(advert, { srcAddr: LB1, dstAddr: GROUP, authPass: 'secret-and-more' });
  assert.deepEqual(long.subarray(12), Buffer.from('secret-a'));
});

// ---- malformed input: one test per drop reason -------------------------

const GOOD_V2 = Buffer.from(frame(v2, 1).ip);
const GOOD_V3 = Buffer.from(frame(v3, 1).ip);
const CHECKS_V2: ReceiveChecks = { version: 2, vrid: 51, advertIntervalS: 1, virtualIps: [VIP + '/24'], ownAddr: LB2 };
const CHECKS_V3: ReceiveChecks = { version: 3, vrid: 51, virtualIps: [VIP], ownAddr: LB2 };

/** Rebuild an IP packet around a (possibly edited) VRRP payload with valid checksums. */
function v2Packet(edit: (a: Advert & { version: 2 }) => void, opts: { src?: string; ttl?: number; authPass?: string } = {}): Buffer {
  const advert: Advert & { version: 2 } = { version: 2, vrid: 51, priority: 150, advertIntervalS: 1, authType: 0, addresses: [VIP] };
  edit(advert);
  const src = opts.src ?? LB1;
  const payload = encodeAdvert(advert, { srcAddr: src, dstAddr: GROUP, ...(opts.authPass ? { authPass: opts.authPass } : {}) });
  return encodeIpPacket(payload, { srcAddr: src, dstAddr: GROUP, ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) });
}

/** A v3 packet from LB1 (to the group unless `dst`), checksummed with the pseudo-header. */
function v3Packet(over: Partial<Advert & { version: 3 }>, opts: { src?: string; dst?: string; ttl?: number } = {}): Buffer {
  const advert: Advert = { version: 3, vrid: 51, priority: 150, maxAdvertIntervalCs: 100, addresses: [VIP], ...over };
  const src = opts.src ?? LB1;
  const dst = opts.dst ?? GROUP;
  return encodeIpPacket(encodeAdvert(advert, { srcAddr: src, dstAddr: dst }), { srcAddr: src, dstAddr: dst, ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) });
}

/** Edit the VRRP payload of a v3 packet and fix its pseudo-header checksum again. */
function patchV3(ip: Buffer, edit: (vrrp: Buffer) => void): Buffer {
  const out = Buffer.from(ip);
  const vrrp = out.subarray(20);
  edit(vrrp);
  vrrp.writeUInt16BE(0, 6);
  const pseudo = Buffer.concat([out.subarray(12, 20), Buffer.from([0, 112, 0, vrrp.length])]);
  vrrp.writeUInt16BE(internetChecksum(Buffer.concat([pseudo, vrrp])), 6);
  return out;
}

/** Edit the VRRP payload bytes of a packet and fix the v2 checksum again. */
function patchPayload(ip: Buffer, edit: (vrrp: Buffer) => void, fixChecksum = true): Buffer {
  const out = Buffer.from(ip);
  const vrrp = out.subarray(20);
  edit(vrrp);
  if (fixChecksum) {
    vrrp.writeUInt16BE(0, 6);
    vrrp.writeUInt16BE(internetChecksum(vrrp), 6);
  }
  return out;
}

/** Edit the IP header and fix its checksum. */
function patchIp(ip: Buffer, edit: (h: Buffer) => void): Buffer {
  const out = Buffer.from(ip);
  edit(out);
  out.writeUInt16BE(0, 10);
  out.writeUInt16BE(internetChecksum(out.subarray(0, 20)), 10);
  return out;
}

const drops: Array<[string, Buffer, ReceiveChecks, string]> = [
  ['empty buffer', Buffer.alloc(0), CHECKS_V2, 'too-short'],
  ['19 bytes', GOOD_V2.subarray(0, 19), CHECKS_V2, 'too-short'],
  ['truncated below IP total length', GOOD_V2.subarray(0, GOOD_V2.length - 1), CHECKS_V2, 'too-short'],
  ['IP total length leaves less than a VRRP header', patchIp(GOOD_V2, (h) => h.writeUInt16BE(24, 2)), CHECKS_V2, 'too-short'],
  ['IP version 6', patchIp(GOOD_V2, (h) => (h[0] = 0x65)), CHECKS_V2, 'bad-ip-header'],
  ['IHL 4', patchIp(GOOD_V2, (h) => (h[0] = 0x44)), CHECKS_V2, 'bad-ip-header'],
  ['IP total length below the header', patchIp(GOOD_V2, (h) => h.writeUInt16BE(12, 2)), CHECKS_V2, 'bad-ip-header'],
  ['IP protocol 6', patchIp(GOOD_V2, (h) => (h[9] = 6)), CHECKS_V2, 'bad-ip-header'],
  ['IP fragment (MF)', patchIp(GOOD_V2, (h) => (h[6] = 0x20)), CHECKS_V2, 'bad-ip-header'],
  ['IP header checksum wrong', (() => { const b = Buffer.from(GOOD_V2); b[10] = (b[10] as number) ^ 0xff; return b; })(), CHECKS_V2, 'bad-ip-header'],
  ['TTL 254', v2Packet(() => {}, { ttl: 254 }), CHECKS_V2, 'bad-ttl'],
  ['TTL 1', patchIp(GOOD_V3, (h) => (h[8] = 1)), CHECKS_V3, 'bad-ttl'],
  ['our own advert looped back', v2Packet(() => {}, { src: LB2 }), CHECKS_V2, 'own-packet'],
  ['VRRP version 1', patchPayload(GOOD_V2, (v) => (v[0] = 0x11)), CHECKS_V2, 'bad-version'],
  ['v3 advert to a v2 router', GOOD_V3, CHECKS_V2, 'bad-version'],
  ['v2 advert to a v3 router', GOOD_V2, CHECKS_V3, 'bad-version'],
  ['VRRP type 2', patchPayload(GOOD_V2, (v) => (v[0] = 0x22)), CHECKS_V2, 'bad-type'],
  ['count 2 with one address', patchPayload(GOOD_V2, (v) => (v[3] = 2)), CHECKS_V2, 'bad-length'],
  ['count 0 with one address', patchPayload(GOOD_V3, (v) => (v[3] = 0), false), CHECKS_V3, 'bad-length'],
  ['v2 checksum wrong', patchPayload(GOOD_V2, (v) => (v[7] = (v[7] as number) ^ 1), false), CHECKS_V2, 'bad-checksum'],
  ['v3 checksum wrong', patchPayload(GOOD_V3, (v) => (v[2] = 151), false), CHECKS_V3, 'bad-checksum'],
  ['VRID 52', v2Packet((a) => (a.vrid = 52)), CHECKS_V2, 'vrid-mismatch'],
  ['unicast: source not a peer', v2Packet(() => {}, { src: '10.203.0.13' }), { ...CHECKS_V2, unicastPeers: [LB1] }, 'unknown-source'],
  ['auth: password expected, none sent', v2Packet(() => {}), { ...CHECKS_V2, authPass: 'secret' }, 'bad-auth'],
  ['auth: wrong password', v2Packet(() => {}, { authPass: 'secreT' }), { ...CHECKS_V2, authPass: 'secret' }, 'bad-auth'],
  ['auth: password sent, none expected', v2Packet(() => {}, { authPass: 'secret' }), CHECKS_V2, 'bad-auth'],
  ['v2 interval 2 s, ours 1 s', v2Packet((a) => (a.advertIntervalS = 2)), CHECKS_V2, 'interval-mismatch'],
  ['none of our virtual addresses (another cluster on our VRID)', v2Packet((a) => (a.addresses = ['10.203.0.101'])), CHECKS_V2, 'no-common-address'],
  ['v3: none of our virtual addresses', v3Packet({ addresses: ['10.203.0.101', '10.203.0.102'] }), CHECKS_V3, 'no-common-address'],
  ['v3 Max Adver Int 0', v3Packet({ maxAdvertIntervalCs: 0 }), CHECKS_V3, 'bad-advert-interval'],
  ['v3 Max Adver Int 0 with reserved bits set', patchV3(v3Packet({ maxAdvertIntervalCs: 0 }), (v) => (v[4] = 0xf0)), CHECKS_V3, 'bad-advert-interval'],
  ['v2 Adver Int 0', v2Packet((a) => (a.advertIntervalS = 0)), CHECKS_V2, 'bad-advert-interval'],
  ['v2 Adver Int 0, no interval configured', v2Packet((a) => (a.advertIntervalS = 0)), { version: 2 }, 'bad-advert-interval'],
  ['unicast: TTL 64 from a non-peer', v3Packet({}, { src: '10.203.0.13', dst: LB2, ttl: 64 }), { ...CHECKS_V3, unicastPeers: [LB1] }, 'unknown-source'],
  ['multicast mode: TTL 64 from a known router', v3Packet({}, { ttl: 64 }), CHECKS_V3, 'bad-ttl'],
];

for (const [name, bytes, checks, reason] of drops) {
  test(`drop: ${name} -> ${reason}`, () => {
    assert.deepEqual(decodeIpPacket(bytes, checks), { ok: false, error: reason });
  });
}

test('unicast: a peer behind a router (TTL < 255) is accepted; multicast keeps the TTL 255 rule', () => {
  const unicast: ReceiveChecks = { ...CHECKS_V3, unicastPeers: [LB1] };
  for (const ttl of [254, 64, 1]) {
    const r = decodeIpPacket(v3Packet({}, { dst: LB2, ttl }), unicast);
    assert.ok(r.ok, `ttl ${ttl}: ${r.ok ? '' : r.error}`);
    assert.equal(r.value.ttl, ttl);
    assert.equal(r.value.srcAddr, LB1);
    // the same packet in multicast mode is off-link
    assert.deepEqual(decodeIpPacket(v3Packet({}, { dst: LB2, ttl }), CHECKS_V3), { ok: false, error: 'bad-ttl' });
  }
  // v2 too
  const v2Unicast = encodeIpPacket(GOOD_V2.subarray(20), { srcAddr: LB1, dstAddr: GROUP, ttl: 60 });
  assert.ok(decodeIpPacket(v2Unicast, { ...CHECKS_V2, unicastPeers: [LB1] }).ok);
  assert.deepEqual(decodeIpPacket(v2Unicast, { ...CHECKS_V2, unicastPeers: ['10.203.0.13'] }), { ok: false, error: 'unknown-source' });
});

test('address list that differs but shares an address: processed and flagged, v2 and v3 (RFC 3768 §7.1, RFC 5798 §7.1)', () => {
  const VIP2 = '10.203.0.101';
  const cases: Array<[string, Buffer, ReceiveChecks]> = [
    ['v3, an extra address', v3Packet({ addresses: [VIP, VIP2] }), CHECKS_V3],
    ['v3, one missing', v3Packet({ addresses: [VIP] }), { ...CHECKS_V3, virtualIps: [VIP, VIP2] }],
    ['v3, the same address twice', v3Packet({ addresses: [VIP, VIP] }), CHECKS_V3],
    ['v2, an extra address', v2Packet((a) => (a.addresses = [VIP, VIP2])), CHECKS_V2],
    ['v2, one missing', v2Packet(() => {}), { ...CHECKS_V2, virtualIps: [VIP, VIP2] }],
  ];
  for (const [name, bytes, checks] of cases) {
    const r = decodeIpPacket(bytes, checks);
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.error}`);
    assert.equal(r.value.addressMismatch, true, name);
  }
  // the same list, in another order, is no mismatch
  const reordered = decodeIpPacket(v3Packet({ addresses: [VIP2, VIP] }), { ...CHECKS_V3, virtualIps: [VIP + '/24', VIP2 + '/24'] });
  assert.ok(reordered.ok);
  assert.equal(reordered.value.addressMismatch, false);
  const same = decodeIpPacket(GOOD_V3, CHECKS_V3);
  assert.ok(same.ok);
  assert.equal(same.value.addressMismatch, false);
  // no check asked for: never a mismatch
  const unchecked = decodeIpPacket(v3Packet({ addresses: [VIP2] }), {});
  assert.ok(unchecked.ok);
  assert.equal(unchecked.value.addressMismatch, false);
});

test('accepted: v3 adverts with another interval (backups adopt it), and the owner with other addresses', () => {
  const payload = encodeAdvert({ version: 3, vrid: 51, priority: 150, maxAdvertIntervalCs: 300, addresses: [VIP] }, { srcAddr: LB1, dstAddr: GROUP });
  assert.ok(decodeIpPacket(encodeIpPacket(payload, { srcAddr: LB1, dstAddr: GROUP }), CHECKS_V3).ok);
  // the owner (255) is heard even with none of our addresses, and flagged
  const owner = decodeIpPacket(v2Packet((a) => ((a.priority = 255), (a.addresses = ['10.203.0.101']))), CHECKS_V2);
  assert.ok(owner.ok);
  assert.equal(owner.value.addressMismatch, true);
  // the smallest valid interval, 1 cs
  assert.ok(decodeIpPacket(v3Packet({ maxAdvertIntervalCs: 1 }), CHECKS_V3).ok);
  // v3 reserved bits are ignored
  const rsvd = patchPayload(GOOD_V3, (v) => (v[4] = 0xf0), false);
  const fixed = Buffer.from(rsvd);
  const vrrp = fixed.subarray(20);
  vrrp.writeUInt16BE(0, 6);
  const src = Buffer.from([10, 203, 0, 11, 224, 0, 0, 18, 0, 112, 0, vrrp.length]);
  vrrp.writeUInt16BE(internetChecksum(Buffer.concat([src, vrrp])), 6);
  const r = decodeIpPacket(fixed, CHECKS_V3);
  assert.ok(r.ok);
  assert.equal((r.value.advert as Advert & { version: 3 }).maxAdvertIntervalCs, 10);
});

test('decodeAdvert on the payload alone', () => {
  const payload = GOOD_V3.subarray(20);
  assert.deepEqual(decodeAdvert(payload, {}), { ok: false, error: 'bad-checksum' }); // pseudo-header needs addresses
  assert.ok(decodeAdvert(payload, { srcAddr: LB1, dstAddr: GROUP }).ok);
  assert.ok(decodeAdvert(GOOD_V2.subarray(20)).ok);
  assert.deepEqual(decodeAdvert(Buffer.alloc(7)), { ok: false, error: 'too-short' });
});

test('encodeAdvert rejects values no config can produce', () => {
  assert.throws(() => encodeAdvert({ version: 3, vrid: 256, priority: 1, maxAdvertIntervalCs: 1, addresses: [VIP] }, { srcAddr: LB1, dstAddr: GROUP }), { code: 'VRRP_ENCODE' });
  assert.throws(() => encodeAdvert({ version: 3, vrid: 1, priority: 1, maxAdvertIntervalCs: 1, addresses: ['x'] }, { srcAddr: LB1, dstAddr: GROUP }), { code: 'VRRP_ENCODE' });
});

// ---- truncation, splitting, random bytes -------------------------------

test('every truncation of a valid packet is dropped, never thrown', () => {
  for (const good of [GOOD_V2, GOOD_V3]) {
    for (let n = 0; n < good.length; n++) {
      const r = decodeIpPacket(good.subarray(0, n), {});
      assert.equal(r.ok, false, `length ${n}`);
    }
    const payload = good.subarray(20);
    for (let n = 0; n < payload.length; n++) assert.equal(decodeAdvert(payload.subarray(0, n)).ok, false);
  }
});

test('a packet split at every offset: neither part decodes, the rejoined one does', () => {
  for (const good of [GOOD_V2, GOOD_V3]) {
    for (let n = 1; n < good.length; n++) {
      const head = good.subarray(0, n);
      const tail = good.subarray(n);
      assert.equal(decodeIpPacket(head, {}).ok, false);
      assert.equal(decodeIpPacket(tail, {}).ok, false);
      assert.ok(decodeIpPacket(Buffer.concat([head, tail]), {}).ok);
    }
  }
});

/** xorshift32: deterministic random bytes. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test('100k random buffers never throw', () => {
  const next = rng(0x5eed);
  const checks = [{}, CHECKS_V2, CHECKS_V3, { ...CHECKS_V2, authPass: 'x', unicastPeers: [LB1] }];
  for (let i = 0; i < 100_000; i++) {
    const len = next() % 80;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = next() & 255;
    // half of them look like IPv4/VRRP so the deeper checks are reached
    if (i % 2 === 0 && len >= 20) {
      buf[0] = 0x45;
      buf[9] = 112;
      buf.writeUInt16BE(Math.min(len, buf.readUInt16BE(2) % 96), 2);
    }
    const r = decodeIpPacket(buf, checks[i % checks.length] as ReceiveChecks);
    assert.equal(typeof r.ok, 'boolean');
    decodeAdvert(buf, checks[i % checks.length] as ReceiveChecks);
    peekVrid(buf);
  }
});

test('10k bit flips of valid packets never throw, and never pass with a wrong checksum', () => {
  const next = rng(42);
  for (let i = 0; i < 10_000; i++) {
    const good = i % 2 ? GOOD_V2 : GOOD_V3;
    const buf = Buffer.from(good);
    const bit = next() % (buf.length * 8);
    buf[bit >> 3] = (buf[bit >> 3] as number) ^ (1 << (bit & 7));
    const r = decodeIpPacket(buf, {});
    // a single flipped bit is always caught by one of the checks (IP or VRRP checksum,
    // or a header field), except in the IP header's TOS and ID fields, which carry no meaning here
    const byte = bit >> 3;
    if (byte !== 1 && byte !== 4 && byte !== 5) assert.equal(r.ok, false, `bit ${bit}`);
  }
});
