/**
 * Small helpers shared by the rtnetlink adapters (VIPs, link watch, GARP):
 * opening a socket, finding an interface by name, address conversions, and
 * turning the `netlink` package's errors into errno names.
 *
 * Invariants:
 * - Interfaces are looked up by name on every call that needs an index, in
 *   the caller's network namespace (the process's), so an interface that was
 *   recreated with a new index is still found.
 * - The `netlink` package rejects with "Request rejected: EEXIST" and no
 *   `code`; `netlinkErrno()` recovers the errno name so callers branch on it
 *   instead of on message text elsewhere.
 */
import { isIPv4 } from 'node:net';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { BatonError } from '@baton/core';

/** AF_INET: the only address family Baton's VRRP handles. */
export const AF_INET = 2;

export function openRtNetlink(): RtNetlinkSocket {
  return createRtNetlink();
}

export interface LinkInfo {
  index: number;
  name: string;
  /** IFF_UP: administratively up. */
  adminUp: boolean;
  /** IFF_RUNNING: operationally up (carrier present). */
  running: boolean;
  mac: Buffer | undefined;
}

/** The errno name carried by a `netlink` rejection ('EEXIST', 'EADDRNOTAVAIL' …), or undefined. */
export function netlinkErrno(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return /Request rejected: (E[A-Z0-9]+)/.exec(err.message)?.[1];
}

/** Every link in the namespace. */
export async function listLinks(nl: RtNetlinkSocket): Promise<LinkInfo[]> {
  const links = await nl.getLinks();
  const out: LinkInfo[] = [];
  for (const l of links) {
    if (l.data.index === undefined || l.attrs.ifname === undefined) continue;
    out.push({
      index: l.data.index,
      name: l.attrs.ifname,
      adminUp: l.data.flags?.up === true,
      running: l.data.flags?.running === true,
      mac: l.attrs.address && l.attrs.address.length === 6 ? Buffer.from(l.attrs.address) : undefined,
    });
  }
  return out;
}

/** The link named `name`; rejects with BatonError 'no-such-interface'. */
export async function findLink(nl: RtNetlinkSocket, name: string): Promise<LinkInfo> {
  const link = (await listLinks(nl)).find((l) => l.name === name);
  if (!link) throw new BatonError('no-such-interface', `no interface named ${name} in this network namespace`);
  return link;
}

export function formatMac(mac: Buffer): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Dotted quad to 4 bytes; throws BatonError 'bad-address' for anything but IPv4. */
export function ipv4Bytes(addr: string): Buffer {
  if (!isIPv4(addr)) throw new BatonError('bad-address', `not an IPv4 address: ${addr}`);
  return Buffer.from(addr.split('.').map((o) => Number(o)));
}

export function formatIpv4(bytes: Buffer | Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

export interface Ipv4Prefix {
  address: string;
  prefixLength: number;
}

/**
 * "10.0.0.10/24" or "10.0.0.10" (taken as /32, as keepalived does) to its
 * parts; throws BatonError 'bad-address' on anything else (a config bug).
 */
export function parseIpv4Prefix(text: string): Ipv4Prefix {
  const [address = '', len] = text.split('/');
  const prefixLength = len === undefined ? 32 : Number(len);
  if (!isIPv4(address) || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32 || len === '') {
    throw new BatonError('bad-address', `not an IPv4 address or prefix: ${text}`);
  }
  return { address, prefixLength };
}
