/**
 * The PROXY protocol header (HAProxy's "PROXY protocol" specification,
 * versions 1 and 2) that a service with `send_proxy` writes to the server
 * before the client's first byte, so a server behind Baton (MariaDB's
 * proxy_protocol_networks, MySQL Router, HAProxy, nginx) sees the client's
 * address and port instead of Baton's.
 *
 * Pure: addresses in, bytes out. IPv4-mapped IPv6 addresses (what a dual
 * stack listener reports for an IPv4 client) are sent as IPv4; a pair of
 * addresses of different families, or one that is not an IP address, is
 * sent as UNKNOWN (v1) / LOCAL with AF_UNSPEC (v2), which a receiver takes
 * as "use the connection's own addresses", per the specification.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ProxyVersion = 'v1' | 'v2';

export interface Endpoint {
  address: string;
  port: number;
}

/** The v2 signature: \r\n\r\n\0\r\nQUIT\n (specification §2.2). */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function unmap(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

type Family = 4 | 6 | undefined;
const familyOf = (a: string): Family => (isIPv4(a) ? 4 : isIPv6(a) ? 6 : undefined);

function ipv6Bytes(address: string): Buffer {
  // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...fill, ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** The header for a connection from `src` (the client) to `dst` (the address the client connected to). */
export function proxyHeader(version: ProxyVersion, src: Endpoint, dst: Endpoint): Buffer {
  const s = unmap(src.address);
  const d = unmap(dst.address);
  const fs = familyOf(s);
  const family = fs !== undefined && fs === familyOf(d) ? fs : undefined;
  if (version === 'v1') {
    // §2.1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN\r\n".
    if (family === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    return Buffer.from(`PROXY TCP${family} ${s} ${d} ${src.port} ${dst.port}\r\n`, 'latin1');
  }
  // §2.2: signature, version 2 + command (0x21 PROXY, 0x20 LOCAL), family/protocol, length, addresses.
  if (family === undefined) return Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const addrs =
    family === 4
      ? Buffer.concat([ipv4Bytes(s), ipv4Bytes(d), Buffer.alloc(4)])
      : Buffer.concat([ipv6Bytes(s), ipv6Bytes(d), Buffer.alloc(4)]);
  addrs.writeUInt16BE(src.port, addrs.length - 4);
  addrs.writeUInt16BE(dst.port, addrs.length - 2);
  const head = Buffer.from([0x21, family === 4 ? 0x11 : 0x21, 0x00, 0x00]);
  head.writeUInt16BE(addrs.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, addrs]);
}
