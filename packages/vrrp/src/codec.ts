/**
 * VRRP advertisement codec for VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) over IPv4.
 *
 * Invariants:
 * - Decoding never throws and never reads past the given bytes: every input
 *   yields either a value or a DropReason, which is also the metric label and
 *   the log key (`baton_vrrp_packets_dropped_total{reason}`).
 * - The receive checks follow RFC 3768 §7.1 / RFC 5798 §7.1, in this order:
 *   IP header, TTL (multicast only), own packet, length, version, type,
 *   count/length, checksum, VRID, unicast source, authentication (v2),
 *   interval (zero for both versions, mismatch for v2), address list.
 * - An address list that differs from ours is not a drop (RFC 3768 §7.1 and
 *   RFC 5798 §7.1 only say to log it): the advert is processed and flagged
 *   `addressMismatch`, so a rolling config change that adds a VIP does not
 *   make the nodes that differ deaf to each other (dual master). Only a
 *   list with no address in common is dropped ('no-common-address'): that
 *   is another cluster reusing our VRID, and a router that has none of our
 *   addresses cannot conflict with us over any of them.
 * - Encoding is byte-exact with keepalived 2.2.7 (see test/codec.test.ts,
 *   checked against the keepalived captures in test/fixtures/vectors). It throws only for
 *   values no valid config can produce (a bug), never for received data.
 */
import { BatonError } from '@baton/core';
import { vrrpChecksum } from './checksum.js';
import {
  AUTH_NONE,
  AUTH_SIMPLE_PASSWORD,
  IPV4_ADDR_LEN,
  IPV4_HEADER_MIN_LEN,
  PRIORITY_OWNER,
  V2_AUTH_DATA_LEN,
  V3_ADVERT_INTERVAL_MASK,
  VRRP_HEADER_LEN,
  VRRP_IP_PROTOCOL,
  VRRP_TOS,
  VRRP_TTL,
  VRRP_TYPE_ADVERTISEMENT,
  type VrrpVersion,
} from './constants.js';
import { parseIpv4, readIpv4, stripPrefix, writeIpv4 } from './ipv4.js';
import type { DropReason } from './types.js';

/** A VRRPv2 advertisement (RFC 3768 §5.1). */
export interface AdvertV2 {
  version: 2;
  vrid: number;
  priority: number;
  /** Adver Int, whole seconds (RFC 3768 §5.3.7). */
  advertIntervalS: number;
  /** Auth Type as received (RFC 3768 §5.3.6). encodeAdvert ignores it and uses its `authPass` option. */
  authType: number;
  /** The virtual addresses, in packet order. */
  addresses: string[];
}

/** A VRRPv3 advertisement over IPv4 (RFC 5798 §5.1). */
export interface AdvertV3 {
  version: 3;
  vrid: number;
  priority: number;
  /** Max Adver Int, centiseconds, 12 bits (RFC 5798 §5.2.7). */
  maxAdvertIntervalCs: number;
  addresses: string[];
}

export type Advert = AdvertV2 | AdvertV3;

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DropReason };

/** The advert's interval in milliseconds, whatever the version. */
export function advertIntervalMsOf(advert: Advert): number {
  return advert.version === 2 ? advert.advertIntervalS * 1000 : advert.maxAdvertIntervalCs * 10;
}

/**
 * What the receiver expects; every field is optional, and an absent field
 * skips its check (so a capture can be parsed with no configuration).
 */
export interface ReceiveChecks {
  /** Expected version; absent = 2 or 3. */
  version?: VrrpVersion;
  /** Expected VRID (RFC 3768 §7.1, RFC 5798 §7.1). */
  vrid?: number;
  /**
   * v2 only: the simple password (RFC 3768 §5.3.6.1). Given: Auth Type must be
   * 1 and the 8 bytes must equal the password, NUL-padded. Absent or '':
   * Auth Type must be 0 (checked only when `version` is 2).
   */
  authPass?: string;
  /** v2 only: the configured Adver Int in seconds; a different one is dropped (RFC 3768 §7.1). */
  advertIntervalS?: number;
  /**
   * Unicast mode: the only accepted sources. Absent or empty: multicast
   * mode, any source, and the TTL must be 255.
   */
  unicastPeers?: readonly string[];
  /**
   * The configured virtual addresses (a "/prefix" is ignored). When given, an
   * advert listing other addresses is processed and flagged (RFC 3768 §7.1;
   * RFC 5798 §7.1), unless it has none of them in common and does not come
   * from the address owner (priority 255): then it is dropped.
   */
  virtualIps?: readonly string[];
  /** Our own primary address: a packet from it is our own, looped back. */
  ownAddr?: string;
}

export interface DecodeAdvertOptions extends ReceiveChecks {
  /** IP source, for the v3 pseudo-header checksum and the unicast source check. */
  srcAddr?: string;
  /** IP destination, for the v3 pseudo-header checksum. */
  dstAddr?: string;
}

/** A received IPv4 packet that carries a valid VRRP advert. */
export interface ReceivedAdvert {
  srcAddr: string;
  dstAddr: string;
  ttl: number;
  advert: Advert;
  /**
   * The advert's address list is not exactly our virtualIps (the check was
   * asked for). It is processed all the same; the receiver counts and logs it.
   */
  addressMismatch: boolean;
}

const fail = (error: DropReason): { ok: false; error: DropReason } => ({ ok: false, error });

function expectedLength(version: number, count: number): number {
  return VRRP_HEADER_LEN + count * IPV4_ADDR_LEN + (version === 2 ? V2_AUTH_DATA_LEN : 0);
}

/** The 8 bytes of v2 simple-password auth data: the password, truncated to 8, NUL-padded (RFC 3768 §5.3.10). */
function passwordBytes(authPass: string): Buffer {
  const out = Buffer.alloc(V2_AUTH_DATA_LEN);
  Buffer.from(authPass, 'utf8').copy(out, 0, 0, V2_AUTH_DATA_LEN);
  return out;
}

/** How a received address list compares with the configured one. */
function compareAddresses(received: readonly string[], configured: readonly string[]): 'same' | 'overlap' | 'disjoint' {
  const want = new Set(configured.map(stripPrefix));
  const common = received.filter((a) => want.has(a)).length;
  if (common === 0) return 'disjoint';
  const same = received.length === want.size && want.size === configured.length && new Set(received).size === received.length && common === received.length;
  return same ? 'same' : 'overlap';
}

function checksumOk(bytes: Uint8Array, version: number, srcAddr?: string, dstAddr?: string): boolean {
  if (vrrpChecksum(bytes) === 0) return true; // v2, or v3 without pseudo-header (v3_checksum_as_v2, RFC 9568)
  if (version !== 3 || srcAddr === undefined || dstAddr === undefined) return false;
  const src = parseIpv4(srcAddr);
  const dst = parseIpv4(dstAddr);
  if (src === undefined || dst === undefined) return false;
  return vrrpChecksum(bytes, { srcAddr: src, dstAddr: dst }) === 0; // RFC 5798 §5.2.8
}

/**
 * Decode a VRRP message (the IP payload alone). For v3 either checksum form
 * is accepted: with the IPv4 pseudo-header (RFC 5798 §5.2.8, keepalived's
 * default) or without it (keepalived's v3_checksum_as_v2, RFC 9568 §5.2.8);
 * the pseudo-header form needs `srcAddr` and `dstAddr`.
 */
export function decodeAdvert(bytes: Uint8Array, opts: DecodeAdvertOptions = {}): DecodeResult<Advert> {
  if (bytes.length < VRRP_HEADER_LEN) return fail('too-short');
  const b0 = bytes[0] as number;
  const version = b0 >>> 4;
  if (version !== 2 && version !== 3) return fail('bad-version');
  if (opts.version !== undefined && version !== opts.version) return fail('bad-version');
  if ((b0 & 0x0f) !== VRRP_TYPE_ADVERTISEMENT) return fail('bad-type');
  const vrid = bytes[1] as number;
  const priority = bytes[2] as number;
  const count = bytes[3] as number;
  if (bytes.length !== expectedLength(version, count)) return fail('bad-length');
  if (!checksumOk(bytes, version, opts.srcAddr, opts.dstAddr)) return fail('bad-checksum');
  if (opts.vrid !== undefined && vrid !== opts.vrid) return fail('vrid-mismatch');
  if (opts.unicastPeers && opts.unicastPeers.length > 0) {
    if (opts.srcAddr === undefined || !opts.unicastPeers.includes(opts.srcAddr)) return fail('unknown-source');
  }
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(readIpv4(bytes, VRRP_HEADER_LEN + i * IPV4_ADDR_LEN));

  let advert: Advert;
  if (version === 2) {
    const authType = bytes[4] as number;
    const advertIntervalS = bytes[5] as number;
    // RFC 3768 §7.1: the Auth Type must match the configured method, and for
    // simple password the Authentication Data must match the configured key.
    const authAt = VRRP_HEADER_LEN + count * IPV4_ADDR_LEN;
    if (opts.authPass) {
      if (authType !== AUTH_SIMPLE_PASSWORD) return fail('bad-auth');
      const want = passwordBytes(opts.authPass);
      for (let i = 0; i < V2_AUTH_DATA_LEN; i++) if (bytes[authAt + i] !== want[i]) return fail('bad-auth');
    } else if (opts.version === 2 && authType !== AUTH_NONE) {
      return fail('bad-auth');
    }
    // An interval of 0 would make Master_Down_Interval 0 (RFC 3768 §6.1): every backup would take over at once.
    if (advertIntervalS === 0) return fail('bad-advert-interval');
    // RFC 3768 §7.1: a v2 advert whose Adver Int differs from ours MUST be discarded.
    if (opts.advertIntervalS !== undefined && advertIntervalS !== opts.advertIntervalS) return fail('interval-mismatch');
    advert = { version: 2, vrid, priority, advertIntervalS, authType, addresses };
  } else {
    // RFC 5798 §5.2.5-5.2.7: 4 reserved bits (ignored on receive), 12 bits of centiseconds.
    const maxAdvertIntervalCs = (((bytes[4] as number) << 8) | (bytes[5] as number)) & V3_ADVERT_INTERVAL_MASK;
    // RFC 5798 §6.4.2: a backup adopts the master's interval; 0 would give a
    // Master_Down_Interval of 0 (§6.1), so one such packet would make every
    // backup take over at once. No valid sender uses it (§5.2.7: 1-4095 cs).
    if (maxAdvertIntervalCs === 0) return fail('bad-advert-interval');
    advert = { version: 3, vrid, priority, maxAdvertIntervalCs, addresses };
  }
  if (opts.virtualIps && priority !== PRIORITY_OWNER && compareAddresses(addresses, opts.virtualIps) === 'disjoint') {
    return fail('no-common-address');
  }
  return { ok: true, value: advert };
}

/**
 * Decode a received raw IPv4 packet (header included, as a raw socket of
 * protocol 112 delivers it on Linux) and run every receive check.
 */
export function decodeIpPacket(bytes: Uint8Array, opts: ReceiveChecks = {}): DecodeResult<ReceivedAdvert> {
  if (bytes.length < IPV4_HEADER_MIN_LEN) return fail('too-short');
  const b0 = bytes[0] as number;
  const ihlBytes = (b0 & 0x0f) * 4;
  if (b0 >>> 4 !== 4 || ihlBytes < IPV4_HEADER_MIN_LEN) return fail('bad-ip-header');
  if (bytes.length < ihlBytes) return fail('too-short');
  const totalLength = ((bytes[2] as number) << 8) | (bytes[3] as number);
  if (totalLength < ihlBytes) return fail('bad-ip-header');
  if (bytes.length < totalLength) return fail('too-short');
  // A fragment cannot be a whole advert (MF set or a non-zero offset).
  if (((((bytes[6] as number) << 8) | (bytes[7] as number)) & 0x3fff) !== 0) return fail('bad-ip-header');
  if (bytes[9] !== VRRP_IP_PROTOCOL) return fail('bad-ip-header');
  if (vrrpChecksum(bytes.subarray(0, ihlBytes)) !== 0) return fail('bad-ip-header');
  const ttl = bytes[8] as number;
  // RFC 3768 §7.1, RFC 5798 §7.1: the TTL MUST be 255, so the packet cannot
  // come from off-link. Unicast peers may sit behind a router (clouds route
  // unicast VRRP), so there, as keepalived does, any TTL is accepted and the
  // source must be a configured peer instead (checked in decodeAdvert).
  const unicast = opts.unicastPeers !== undefined && opts.unicastPeers.length > 0;
  if (!unicast && ttl !== VRRP_TTL) return fail('bad-ttl');
  const srcAddr = readIpv4(bytes, 12);
  const dstAddr = readIpv4(bytes, 16);
  if (opts.ownAddr !== undefined && srcAddr === opts.ownAddr) return fail('own-packet');
  const payload = bytes.subarray(ihlBytes, totalLength);
  const decoded = decodeAdvert(payload, { ...opts, srcAddr, dstAddr });
  if (!decoded.ok) return decoded;
  const addressMismatch = opts.virtualIps !== undefined && compareAddresses(decoded.value.addresses, opts.virtualIps) !== 'same';
  return { ok: true, value: { srcAddr, dstAddr, ttl, advert: decoded.value, addressMismatch } };
}

/** The VRID of a raw IPv4 VRRP packet, to demultiplex one socket over several routers; undefined when it is not one. */
export function peekVrid(bytes: Uint8Array): number | undefined {
  if (bytes.length < IPV4_HEADER_MIN_LEN) return undefined;
  const ihlBytes = ((bytes[0] as number) & 0x0f) * 4;
  if ((bytes[0] as number) >>> 4 !== 4 || ihlBytes < IPV4_HEADER_MIN_LEN || bytes[9] !== VRRP_IP_PROTOCOL) return undefined;
  return bytes.length >= ihlBytes + 2 ? bytes[ihlBytes + 1] : undefined;
}

export interface EncodeAdvertOptions {
  /** Our primary address: the IP source, part of the v3 pseudo-header. */
  srcAddr: string;
  /** The IP destination (224.0.0.18 or a unicast peer), part of the v3 pseudo-header. */
  dstAddr: string;
  /** v3: checksum without the pseudo-header, as keepalived's `v3_checksum_as_v2`. */
  v3ChecksumAsV2?: boolean;
  /** v2: simple password (Auth Type 1); absent or '' = Auth Type 0 with zero auth data. */
  authPass?: string;
}

function encodeError(message: string): BatonError {
  return new BatonError('VRRP_ENCODE', message);
}

function checkByte(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw encodeError(`${name} ${value} is outside ${min}-${max}`);
}

/**
 * Encode a VRRP message (the IP payload). The IPv4 header is the transport's
 * (the kernel's) job; use encodeIpPacket to build a whole packet for tests.
 */
export function encodeAdvert(advert: Advert, opts: EncodeAdvertOptions): Buffer {
  const count = advert.addresses.length;
  checkByte('vrid', advert.vrid, 0, 255);
  checkByte('priority', advert.priority, 0, 255);
  checkByte('address count', count, 0, 255);
  const out = Buffer.alloc(expectedLength(advert.version, count));
  out[0] = (advert.version << 4) | VRRP_TYPE_ADVERTISEMENT;
  out[1] = advert.vrid;
  out[2] = advert.priority;
  out[3] = count;
  advert.addresses.forEach((addr, i) => {
    if (!writeIpv4(out, VRRP_HEADER_LEN + i * IPV4_ADDR_LEN, stripPrefix(addr))) throw encodeError(`bad address ${addr}`);
  });
  let pseudo: { srcAddr: number; dstAddr: number } | undefined;
  if (advert.version === 2) {
    checkByte('advert interval (s)', advert.advertIntervalS, 0, 255);
    const auth = opts.authPass ? AUTH_SIMPLE_PASSWORD : AUTH_NONE;
    out[4] = auth;
    out[5] = advert.advertIntervalS;
    if (opts.authPass) passwordBytes(opts.authPass).copy(out, VRRP_HEADER_LEN + count * IPV4_ADDR_LEN);
  } else {
    checkByte('max advert interval (cs)', advert.maxAdvertIntervalCs, 0, V3_ADVERT_INTERVAL_MASK);
    out.writeUInt16BE(advert.maxAdvertIntervalCs, 4);
    if (!opts.v3ChecksumAsV2) {
      const src = parseIpv4(opts.srcAddr);
      const dst = parseIpv4(opts.dstAddr);
      if (src === undefined || dst === undefined) throw encodeError(`bad pseudo-header ${opts.srcAddr} -> ${opts.dstAddr}`);
      pseudo = { srcAddr: src, dstAddr: dst };
    }
  }
  out.writeUInt16BE(vrrpChecksum(out, pseudo), 6);
  return out;
}

export interface EncodeIpOptions {
  srcAddr: string;
  dstAddr: string;
  /** Default 255 (RFC 5798 §5.1.1.3). */
  ttl?: number;
  /** Default 0xC0, as keepalived. */
  tos?: number;
  /** IP identification; default 0. */
  id?: number;
}

/** Wrap a VRRP message in an IPv4 header (20 bytes, no options), as the kernel does on send. For tests and injection. */
export function encodeIpPacket(payload: Uint8Array, opts: EncodeIpOptions): Buffer {
  const out = Buffer.alloc(IPV4_HEADER_MIN_LEN + payload.length);
  out[0] = 0x45;
  out[1] = opts.tos ?? VRRP_TOS;
  out.writeUInt16BE(out.length, 2);
  out.writeUInt16BE((opts.id ?? 0) & 0xffff, 4);
  out[8] = opts.ttl ?? VRRP_TTL;
  out[9] = VRRP_IP_PROTOCOL;
  if (!writeIpv4(out, 12, opts.srcAddr) || !writeIpv4(out, 16, opts.dstAddr)) {
    throw encodeError(`bad IP address ${opts.srcAddr} -> ${opts.dstAddr}`);
  }
  out.writeUInt16BE(vrrpChecksum(out.subarray(0, IPV4_HEADER_MIN_LEN)), 10);
  out.set(payload, IPV4_HEADER_MIN_LEN);
  return out;
}
