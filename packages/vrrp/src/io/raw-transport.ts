/**
 * The VRRP wire on Linux: one raw IPv4 socket of protocol 112 on one
 * interface, used both to send adverts (AdvertTransport) and to receive them
 * (PacketSource), through the `raw-socket` package.
 *
 * Invariants:
 * - Every advert leaves with TTL 255 (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3),
 *   TOS 0xC0 (network control, as keepalived), protocol 112, and the source
 *   address `primaryAddr`. We write the IPv4 header ourselves (IP_HDRINCL,
 *   with the codec's encodeIpPacket):
 *   the v3 checksum covers a pseudo-header with the source address
 *   (RFC 5798 §5.2.8), so the source must be exactly the address the router
 *   checksummed with, never one the kernel picks (which could be a VIP).
 * - Multicast mode: the socket joins 224.0.0.18 (RFC 5798 §5.1.1.2) on the
 *   configured interface only, sends out of that interface, and multicast
 *   loop is off, so a node never hears its own adverts.
 * - Unicast mode (`unicastPeers` non-empty): each advert goes to the peer
 *   the router names; packets from any other source are dropped here and
 *   counted as 'unknown-source'. No group is joined.
 * - The socket is bound to the interface (SO_BINDTODEVICE): adverts arriving
 *   on other interfaces are never seen.
 * - Handlers receive a private copy of each packet (raw-socket reuses its
 *   receive buffer), IPv4 header included. A throwing handler is logged and
 *   does not stop delivery to the others.
 * - send() never throws (AdvertTransport port); failures are counted in
 *   `sendErrors` and logged at most 5 times per 10 s.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { isIPv4 } from 'node:net';
import { BatonError, describeError, RateLimiter, silentLogger, type Logger } from '@baton/core';
import type { AdvertTransport, PacketSource } from '../ports.js';
import type { DropReason } from '../types.js';
import { encodeIpPacket } from '../codec.js';
import { VRRP_IP_PROTOCOL, VRRP_MULTICAST_ADDR, VRRP_TOS, VRRP_TTL } from '../constants.js';
import { AF_INET, findLink, formatIpv4, ipv4Bytes, openRtNetlink } from './netlink-util.js';

// Linux <netinet/in.h> / <asm-generic/socket.h> values not exported by raw-socket.
const SOL_SOCKET = 1;
const IPPROTO_IP = 0;
const SO_BINDTODEVICE = 25;
const IP_TOS = 1;
const IP_TTL = 2;
const IP_HDRINCL = 3;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;

/** struct ip_mreqn: group, local address, interface index (host byte order). */
function ipMreqn(group: string, local: string, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  ipv4Bytes(group).copy(b, 0);
  ipv4Bytes(local).copy(b, 4);
  if (endianness() === 'LE') b.writeInt32LE(ifindex, 8);
  else b.writeInt32BE(ifindex, 8);
  return b;
}

/** The part of raw-socket's Socket we use (the package ships no typings). */
interface RawSocket {
  on(event: 'message', fn: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  send(buffer: Buffer, offset: number, length: number, address: string, cb: (err: Error | null, bytes: number) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(options: { protocol: number; bufferSize?: number }): RawSocket;
}

export interface RawTransportOptions {
  /** The interface VRRP runs on, e.g. eth0. */
  interface: string;
  /** Source address of the adverts; default the interface's first IPv4 address. */
  primaryAddr?: string;
  /** Unicast mode when non-empty: the only sources accepted. */
  unicastPeers?: readonly string[];
  /** Told about packets this adapter drops itself ('unknown-source'). */
  onDrop?: (reason: DropReason, from: string) => void;
  logger?: Logger;
}

export interface RawTransport extends AdvertTransport, PacketSource {
  readonly interface: string;
  readonly ifindex: number;
  /** The source address of every advert sent. */
  readonly primaryAddr: string;
  readonly stats: { readonly sent: number; readonly sendErrors: number; readonly received: number; readonly dropped: number };
}

/**
 * Opens the transport. Rejects with BatonError 'no-such-interface',
 * 'no-address' (the interface has no IPv4 address to send from) or
 * 'raw-socket-failed' (no CAP_NET_RAW, say): deployment errors, reported at start.
 */
export async function openRawTransport(options: RawTransportOptions): Promise<RawTransport> {
  const logger = options.logger ?? silentLogger;
  const ifname = options.interface;
  const peers = new Set(options.unicastPeers ?? []);
  for (const p of peers) if (!isIPv4(p)) throw new BatonError('bad-address', `unicast peer is not an IPv4 address: ${p}`);
  const unicast = peers.size > 0;

  const nl = openRtNetlink();
  let ifindex: number;
  let primaryAddr: string;
  try {
    ifindex = (await findLink(nl, ifname)).index;
    if (options.primaryAddr !== undefined) {
      primaryAddr = options.primaryAddr;
    } else {
      // The kernel lists an interface's addresses oldest primary first, so
      // the first one is the configured address, not a VIP added later.
      const addrs = await nl.getAddresses({ family: AF_INET });
      const first = addrs.find((a) => a.data.index === ifindex && a.data.family === AF_INET && a.attrs.local);
      if (!first?.attrs.local) throw new BatonError('no-address', `interface ${ifname} has no IPv4 address to send VRRP from`);
      primaryAddr = formatIpv4(first.attrs.local);
    }
  } finally {
    nl.socket.close();
  }
  if (!isIPv4(primaryAddr)) throw new BatonError('bad-address', `primary address is not IPv4: ${primaryAddr}`);

  const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
  let socket: RawSocket;
  try {
    socket = raw.createSocket({ protocol: VRRP_IP_PROTOCOL, bufferSize: 2048 });
  } catch (err) {
    throw new BatonError('raw-socket-failed', `cannot open a raw socket for VRRP: ${describeError(err)}`, { cause: err });
  }
  try {
    socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${ifname}\0`), ifname.length + 1);
    socket.setOption(IPPROTO_IP, IP_HDRINCL, 1);
    // With IP_HDRINCL the header we write wins; these keep the socket right
    // for anything the kernel would build itself.
    socket.setOption(IPPROTO_IP, IP_TTL, VRRP_TTL);
    socket.setOption(IPPROTO_IP, IP_TOS, VRRP_TOS);
    socket.setOption(IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
    socket.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    if (!unicast) {
      const mreqn = ipMreqn(VRRP_MULTICAST_ADDR, primaryAddr, ifindex);
      socket.setOption(IPPROTO_IP, IP_MULTICAST_IF, mreqn, mreqn.length);
      socket.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, mreqn.length);
    }
  } catch (err) {
    socket.close();
    throw new BatonError('raw-socket-failed', `cannot set up the VRRP socket on ${ifname}: ${describeError(err)}`, { cause: err });
  }

  const handlers = new Set<(packet: Buffer) => void>();
  const limiter = new RateLimiter(5, 10_000);
  const stats = { sent: 0, sendErrors: 0, received: 0, dropped: 0 };
  let closed = false;
  let nextId = 1;

  const warn = (key: string, message: string, fields: Record<string, string | number>) => {
    const suppressed = limiter.admit(key, performance.now());
    if (suppressed >= 0) logger.warn(message, { interface: ifname, ...fields, ...(suppressed > 0 ? { suppressed } : {}) });
  };

  socket.on('error', (err) => {
    // raw-socket closes the socket after an error event; nothing more arrives.
    closed = true;
    logger.error('VRRP raw socket failed', { interface: ifname, error: describeError(err) });
  });
  socket.on('message', (buffer, source) => {
    if (closed) return;
    if (unicast && !peers.has(source)) {
      stats.dropped++;
      options.onDrop?.('unknown-source', source);
      return;
    }
    stats.received++;
    const packet = Buffer.from(buffer);
    for (const handler of handlers) {
      try {
        handler(packet);
      } catch (err) {
        warn('handler', 'VRRP packet handler threw', { error: describeError(err) });
      }
    }
  });

  return {
    interface: ifname,
    ifindex,
    primaryAddr,
    stats,
    send(payload, dstAddr) {
      if (closed) {
        stats.sendErrors++;
        return;
      }
      let packet: Buffer;
      try {
        const id = nextId;
        nextId = nextId >= 0xffff ? 1 : nextId + 1;
        packet = encodeIpPacket(payload, { srcAddr: primaryAddr, dstAddr, id });
      } catch (err) {
        stats.sendErrors++;
        warn('send', 'VRRP advert not sent', { dst: dstAddr, error: describeError(err) });
        return;
      }
      socket.send(packet, 0, packet.length, dstAddr, (err) => {
        if (err) {
          stats.sendErrors++;
          warn('send', 'VRRP advert not sent', { dst: dstAddr, error: describeError(err) });
        } else {
          stats.sent++;
        }
      });
    },
    onPacket(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    close() {
      if (closed) return;
      closed = true;
      handlers.clear();
      try {
        socket.close();
      } catch {
        /* already closed by an error */
      }
    },
  };
}
