/**
 * Codec fuzzing: seeded mutations (bit flips, truncations, extensions, byte
 * swaps, field values with the checksum fixed) of every VRRP packet in the
 * keepalived captures, decoded under several receive configurations. The
 * decoders must never throw, must classify every input as an advert or one
 * of the known drop reasons, and must obey what the checksums guarantee.
 * Deterministic (fixed seeds) and bounded in count; a failure prints the
 * seed, index and mutation to reproduce it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DROP_REASONS, decodeAdvert, decodeIpPacket, encodeAdvert, peekVrid, type ReceiveChecks, type DropReason } from '../src/index.js';
import { readPcap, vrrpPackets, VECTORS_DIR, V2_CAPTURE, V3_CAPTURE } from './pcap.js';
import { mutate, prng, type Mutation } from './mutate.js';

const VIP = '10.203.0.100';
const captured = [...vrrpPackets(readPcap(join(VECTORS_DIR, V2_CAPTURE))), ...vrrpPackets(readPcap(join(VECTORS_DIR, V3_CAPTURE)))].map((p) => Buffer.from(p.ip));

/** The receive configurations each mutation is decoded under. */
const CONFIGS: Record<string, ReceiveChecks> = {
  none: {},
  v3: { version: 3, vrid: 51, virtualIps: [VIP], ownAddr: '10.203.0.12' },
  v2: { version: 2, vrid: 51, virtualIps: [VIP], advertIntervalS: 1 },
  'v2-auth': { version: 2, vrid: 51, authPass: 'secret', advertIntervalS: 1 },
  unicast: { vrid: 51, unicastPeers: ['10.203.0.12'], virtualIps: [VIP] },
  own: { ownAddr: '10.203.0.11' },
};

const SEEDS = [1, 2, 3, 4];
const PER_SEED = 5000;
const isDottedQuad = (s: string) => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split('.').every((o) => Number(o) <= 255);

function classify(m: Mutation, checks: ReceiveChecks, where: string): 'ok' | DropReason {
  let r: ReturnType<typeof decodeIpPacket>;
  try {
    r = decodeIpPacket(m.packet, checks);
    peekVrid(m.packet);
    decodeAdvert(m.payload, checks);
  } catch (err) {
    assert.fail(`${where}: threw ${(err as Error).stack}`);
  }
  if (!r.ok) {
    assert.ok(DROP_REASONS.includes(r.error), `${where}: unknown reason ${String(r.error)}`);
    return r.error;
  }
  const { advert } = r.value;
  assert.ok(advert.version === 2 || advert.version === 3, where);
  for (const a of advert.addresses) assert.ok(isDottedQuad(a), `${where}: address ${a}`);
  assert.ok(advert.vrid >= 0 && advert.vrid <= 255 && advert.priority >= 0 && advert.priority <= 255, where);
  // What was accepted re-encodes and decodes to the same advert.
  const again = encodeAdvert(advert, { srcAddr: r.value.srcAddr, dstAddr: r.value.dstAddr, ...(checks.authPass ? { authPass: checks.authPass } : {}) });
  const back = decodeAdvert(again, { ...checks, srcAddr: r.value.srcAddr, dstAddr: r.value.dstAddr });
  assert.ok(back.ok, `${where}: re-encoded advert refused: ${back.ok ? '' : back.error}`);
  // Auth Type is not carried over: the encoder writes the configured one (its authPass option).
  const strip = (a: typeof advert) => (a.version === 2 ? { ...a, authType: 0 } : a);
  assert.deepEqual(strip(back.value), strip(advert), where);
  return 'ok';
}

test(`fuzz: ${SEEDS.length * PER_SEED} mutations of the captured keepalived packets never throw and are each classified`, () => {
  const tally: Record<string, Record<string, number>> = {};
  const started = performance.now();
  for (const seed of SEEDS) {
    const rand = prng(seed);
    for (let i = 0; i < PER_SEED; i++) {
      const base = captured[Math.floor(rand() * captured.length)]!;
      const m = mutate(base, rand);
      const where = `seed ${seed} #${i} ${m.kind} ${m.detail}`;
      const results = Object.entries(CONFIGS).map(([name, checks]) => [name, classify(m, checks, `${where} [${name}]`)] as const);
      const none = results[0]![1];
      const kindTally = (tally[m.kind] ??= {});
      for (const [, r] of results) kindTally[r] = (kindTally[r] ?? 0) + 1;
      // What the checksums guarantee: one flipped bit inside the IP header
      // (its checksum) or the VRRP message (its checksum) is always caught
      // (RFC 1071; two or more can cancel out, so only one is asserted).
      if (m.kind === 'bit-flip' && !m.detail.includes(',')) assert.notEqual(none, 'ok', `${where}: a bit flip was accepted`);
      // A cut packet is shorter than its IP total length.
      if (m.kind === 'truncate') assert.ok(none === 'too-short' || none === 'bad-ip-header', `${where}: ${none}`);
      // Bytes after the IP total length are not part of the packet (RFC 791): still the same advert.
      if (m.kind === 'extend') assert.equal(none, classify({ ...m, packet: base, payload: m.payload }, {}, where), where);
      // A longer VRRP message no longer matches its address count.
      if (m.kind === 'extend-fixed') assert.equal(none, 'bad-length', where);
    }
  }
  const ms = performance.now() - started;
  // The fuzzer must reach the deep checks, not only the first ones.
  const reached = new Set(Object.values(tally).flatMap((t) => Object.keys(t)));
  for (const reason of ['ok', 'too-short', 'bad-ip-header', 'bad-version', 'bad-type', 'bad-checksum', 'bad-length', 'bad-auth', 'vrid-mismatch', 'interval-mismatch', 'bad-advert-interval', 'unknown-source', 'no-common-address', 'own-packet']) {
    assert.ok(reached.has(reason), `no mutation reached ${reason}: ${JSON.stringify(tally)}`);
  }
  console.log(`# ${SEEDS.length * PER_SEED} mutations × ${Object.keys(CONFIGS).length} configs in ${ms.toFixed(0)} ms: ${JSON.stringify(tally)}`);
  assert.ok(ms < 30_000, `took ${ms} ms`);
});

test('fuzz: payload-only mutations (the ones the lab injects) never throw and are each classified', () => {
  const rand = prng(99);
  for (let i = 0; i < 5000; i++) {
    const base = captured[Math.floor(rand() * captured.length)]!;
    const m = mutate(base, rand, { payloadOnly: true });
    assert.deepEqual(m.packet.subarray(0, 1), base.subarray(0, 1));
    for (const [name, checks] of Object.entries(CONFIGS)) classify(m, checks, `seed 99 #${i} ${m.kind} ${m.detail} [${name}]`);
  }
});
