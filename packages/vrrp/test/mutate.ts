/**
 * Test helper: seeded mutations of VRRP packets, for the codec fuzz test and
 * the lab run that injects them at a running pair. Deterministic: the same
 * seed gives the same packets on every machine, so a failure names a seed
 * and an index that reproduce it.
 *
 * Every mutation starts from a whole IPv4 packet (header + VRRP message) and
 * says what it did (`kind`, `detail`), so a failing case is readable without
 * a hex dump. Kinds:
 * - bit-flip: 1-3 random bits flipped anywhere, no checksum fixed;
 * - truncate: cut to a random shorter length, headers untouched;
 * - extend: 1-64 random bytes appended; with `fixLength` the IP total length
 *   and header checksum follow (so the VRRP message itself is longer);
 * - swap: two distinct random bytes of the VRRP message exchanged, the VRRP
 *   checksum recomputed (so the checks after the checksum are reached);
 * - field: one VRRP field (version/type, VRID, priority, count, interval,
 *   auth type, an address) set to an edge or random value, checksum
 *   recomputed;
 * - payload-only variants (`payloadOnly`) touch only the VRRP message, for
 *   injection through a raw socket whose kernel rewrites the IP header.
 */
import { vrrpChecksum, pseudoHeaderSum, onesComplementSum, IPV4_HEADER_MIN_LEN } from '../src/index.js';

/** mulberry32: a small, fast, seeded PRNG (not for cryptography). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type MutationKind = 'bit-flip' | 'truncate' | 'extend' | 'extend-fixed' | 'swap' | 'field';

export interface Mutation {
  kind: MutationKind;
  detail: string;
  /** The whole mutated IPv4 packet. */
  packet: Buffer;
  /** The mutated VRRP message alone (the bytes after the IP header the sender wrote). */
  payload: Buffer;
}

const randInt = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

/** Rewrites the VRRP checksum of `payload` in place: the v3 pseudo-header form when src/dst are given. */
export function fixVrrpChecksum(payload: Buffer, src?: number, dst?: number): void {
  if (payload.length < 8) return;
  payload.writeUInt16BE(0, 6);
  const version = (payload[0] as number) >>> 4;
  const initial = version === 3 && src !== undefined && dst !== undefined ? pseudoHeaderSum(src, dst, payload.length) : 0;
  payload.writeUInt16BE(~onesComplementSum(payload, initial) & 0xffff, 6);
}

/** Rewrites the IPv4 total length (to the buffer's) and header checksum in place. */
function fixIpHeader(packet: Buffer): void {
  const ihl = ((packet[0] as number) & 0x0f) * 4;
  if (packet.length < ihl || ihl < IPV4_HEADER_MIN_LEN) return;
  packet.writeUInt16BE(packet.length & 0xffff, 2);
  packet.writeUInt16BE(0, 10);
  packet.writeUInt16BE(vrrpChecksum(packet.subarray(0, ihl)), 10);
}

const FIELDS = ['version-type', 'vrid', 'priority', 'count', 'interval', 'auth-type', 'address'] as const;
const EDGES = [0, 1, 2, 3, 0x0f, 0x10, 0x21, 0x31, 0x7f, 0x80, 0xfe, 0xff];

/**
 * One mutation of `base` (a whole IPv4 packet carrying a VRRP message).
 * `payloadOnly`: never touch the IP header (no bit flips or swaps in it, and
 * extensions always fix the IP length), for injection through a socket.
 */
export function mutate(base: Buffer, rand: () => number, options: { payloadOnly?: boolean } = {}): Mutation {
  const ihl = ((base[0] as number) & 0x0f) * 4;
  const src = base.readUInt32BE(12);
  const dst = base.readUInt32BE(16);
  const kinds: MutationKind[] = options.payloadOnly ? ['bit-flip', 'truncate', 'extend-fixed', 'swap', 'field'] : ['bit-flip', 'truncate', 'extend', 'extend-fixed', 'swap', 'field'];
  const kind = kinds[Math.floor(rand() * kinds.length)] as MutationKind;
  let packet = Buffer.from(base);
  let detail = '';
  const vrrpLen = packet.length - ihl;
  switch (kind) {
    case 'bit-flip': {
      const n = randInt(rand, 1, 3);
      const from = options.payloadOnly ? ihl : 0;
      const bits: number[] = [];
      while (bits.length < n) {
        const bit = randInt(rand, from * 8, packet.length * 8 - 1);
        if (!bits.includes(bit)) bits.push(bit);
      }
      for (const bit of bits) packet[bit >> 3] = (packet[bit >> 3] as number) ^ (0x80 >> (bit & 7));
      detail = `bits ${bits.join(',')}`;
      break;
    }
    case 'truncate': {
      const len = options.payloadOnly ? randInt(rand, ihl, packet.length - 1) : randInt(rand, 0, packet.length - 1);
      packet = packet.subarray(0, len);
      if (options.payloadOnly) packet = Buffer.from(packet);
      if (options.payloadOnly) fixIpHeader(packet);
      detail = `to ${len} bytes`;
      break;
    }
    case 'extend':
    case 'extend-fixed': {
      const extra = Buffer.alloc(randInt(rand, 1, 64));
      for (let i = 0; i < extra.length; i++) extra[i] = randInt(rand, 0, 255);
      packet = Buffer.concat([packet, extra]);
      if (kind === 'extend-fixed') fixIpHeader(packet);
      detail = `+${extra.length} bytes`;
      break;
    }
    case 'swap': {
      if (vrrpLen < 2) break;
      // Any two distinct bytes of the VRRP message except the checksum (rewritten after).
      const pick = () => {
        let at: number;
        do at = randInt(rand, 0, vrrpLen - 1);
        while (at === 6 || at === 7);
        return at;
      };
      const i = pick();
      let j = pick();
      for (let k = 0; k < 8 && j === i; k++) j = pick();
      const a = packet[ihl + i] as number;
      packet[ihl + i] = packet[ihl + j] as number;
      packet[ihl + j] = a;
      fixVrrpChecksum(packet.subarray(ihl), src, dst);
      detail = `bytes ${i}<->${j}`;
      break;
    }
    case 'field': {
      const field = FIELDS[Math.floor(rand() * FIELDS.length)] as (typeof FIELDS)[number];
      const value = rand() < 0.6 ? (EDGES[Math.floor(rand() * EDGES.length)] as number) : randInt(rand, 0, 255);
      const p = packet.subarray(ihl);
      const at = { 'version-type': 0, vrid: 1, priority: 2, count: 3, interval: 5, 'auth-type': 4, address: 8 }[field];
      if (field === 'address' && p.length >= 12) {
        p.writeUInt32BE((randInt(rand, 0, 0xffff) * 0x10000 + randInt(rand, 0, 0xffff)) >>> 0, 8);
      } else if (at < p.length) {
        p[at] = value;
      }
      fixVrrpChecksum(p, src, dst);
      detail = `${field}=${field === 'address' ? p.subarray(8, 12).join('.') : value}`;
      break;
    }
  }
  return { kind, detail, packet, payload: Buffer.from(packet.subarray(Math.min(ihl, packet.length))) };
}
