/**
 * IPv4 address helpers: dotted-quad strings <-> 32-bit unsigned numbers.
 * Invariants: pure; parsing returns undefined for anything that is not a
 * canonical dotted quad (no throw), numbers are always in [0, 2^32).
 */

/** Parse "a.b.c.d" (each 0-255, no leading zeros beyond "0") to an unsigned 32-bit number. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** Format an unsigned 32-bit number as "a.b.c.d". */
export function formatIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Read 4 bytes at `offset` as a dotted quad (caller guarantees the bounds). */
export function readIpv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** Write a dotted quad at `offset`; returns false (writing nothing) when `text` is not one. */
export function writeIpv4(bytes: Uint8Array, offset: number, text: string): boolean {
  const value = parseIpv4(text);
  if (value === undefined) return false;
  bytes[offset] = (value >>> 24) & 255;
  bytes[offset + 1] = (value >>> 16) & 255;
  bytes[offset + 2] = (value >>> 8) & 255;
  bytes[offset + 3] = value & 255;
  return true;
}

/** "10.0.0.10/24" -> "10.0.0.10"; an address without a prefix is returned as is. */
export function stripPrefix(cidr: string): string {
  const slash = cidr.indexOf('/');
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/**
 * Compare two addresses numerically: > 0 when a > b. Used for the
 * equal-priority tie-break (RFC 3768 §6.4.3, RFC 5798 §6.4.3: the higher
 * primary IP address wins). Unparseable addresses sort lowest.
 */
export function compareIpv4(a: string, b: string): number {
  const x = parseIpv4(a) ?? -1;
  const y = parseIpv4(b) ?? -1;
  return x === y ? 0 : x > y ? 1 : -1;
}
