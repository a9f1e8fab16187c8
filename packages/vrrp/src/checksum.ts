/**
 * The Internet checksum (RFC 1071) as VRRP uses it.
 *
 * - v2: over the whole VRRP message (RFC 3768 §5.3.8).
 * - v3 over IPv4: over an IPv4 pseudo-header (source, destination, zero,
 *   protocol 112, VRRP length) followed by the VRRP message (RFC 5798 §5.2.8,
 *   which points at the IPv6 pseudo-header of RFC 2460 §8.1; the IPv4 form is
 *   the one of RFC 768/793). keepalived's `v3_checksum_as_v2` leaves the
 *   pseudo-header out, as RFC 9568 §5.2.8 later clarified.
 *
 * Invariants: pure, never throws for any input; addresses are 4-byte
 * big-endian values already parsed by the caller.
 */
import { VRRP_IP_PROTOCOL } from './constants.js';

/** One's complement sum of `bytes` (odd length padded with a zero byte), folded to 16 bits, not inverted. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = bytes.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (i < n) sum += (bytes[i] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The 16-bit Internet checksum of `bytes` (the value to store; a message with a correct checksum sums to 0xffff). */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesComplementSum(bytes, initial) & 0xffff;
}

/** Sum of the IPv4 pseudo-header for a VRRP message of `length` bytes (RFC 5798 §5.2.8). */
export function pseudoHeaderSum(srcAddr: number, dstAddr: number, length: number): number {
  let sum = (srcAddr >>> 16) + (srcAddr & 0xffff) + (dstAddr >>> 16) + (dstAddr & 0xffff);
  sum += VRRP_IP_PROTOCOL + (length & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Checksum of a VRRP message whose checksum field is zero (or verify: 0 means correct over a filled-in field). */
export function vrrpChecksum(message: Uint8Array, pseudo?: { srcAddr: number; dstAddr: number }): number {
  const initial = pseudo ? pseudoHeaderSum(pseudo.srcAddr, pseudo.dstAddr, message.length) : 0;
  return internetChecksum(message, initial);
}
