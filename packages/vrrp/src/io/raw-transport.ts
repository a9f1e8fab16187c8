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
 *   `sendErrors` and logged at most 5 times per 10 s, and `done(false)`
 *   tells the router the advert was not sent.
 * - A socket error (raw-socket closes the socket after it) is not the end:
 *   the transport reports itself down (onStatus; the router goes to FAULT),
 *   reopens the socket with the same options after 100 ms, doubling up to
 *   5 s between attempts (reopenDelayMs), and reports itself up once a new
 *   socket is set up. Registered packet handlers survive the reopen; while
 *   down, sends fail at once and nothing is received.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { isIPv4 } from 'node:net';
import { BatonError, describeError, RateLimiter, realClock, silentLogger, type Clock, type Logger, type TimerHandle } from '@baton/core';
import type { AdvertTransport, PacketSource, TransportStatus } from '../ports.js';
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
  /** Times the reopen attempts after a socket error; default the real clock. */
  clock?: Clock;
}

/** First wait before reopening a failed socket, and the longest one. */
export const REOPEN_MIN_MS = 100;
export const REOPEN_MAX_MS = 5000;

/** Wait before reopen attempt `attempt` (0 = the first after the failure): 100 ms doubling, at most 5 s. */
export function reopenDelayMs(attempt: number): number {
  return Math.min(REOPEN_MAX_MS, REOPEN_MIN_MS * 2 ** Math.min(Math.max(0, attempt), 16));
}

export interface RawTransport extends AdvertTransport, PacketSource {
  readonly interface: string;
  readonly ifindex: number;
  /** The source address of every advert sent. */
  readonly primaryAddr: string;
  readonly stats: {
    readonly sent: number;
    readonly sendErrors: number;
    readonly received: number;
    readonly dropped: number;
    /** Socket errors seen, and sockets reopened after them. */
    readonly socketErrors: number;
    readonly reopens: number;
  };
  /** False from a socket error until the socket is reopened. */
  readonly up: boolean;
  onStatus(listener: (status: TransportStatus) => void): () => void;
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
  const clock = options.clock ?? realClock;
  const handlers = new Set<(packet: Buffer) => void>();
  const statusListeners = new Set<(status: TransportStatus) => void>();
  const limiter = new RateLimiter(5, 10_000);
  const stats = { sent: 0, sendErrors: 0, received: 0, dropped: 0, socketErrors: 0, reopens: 0 };
  /** The live socket; undefined while down (between an error and a reopen) and after close(). */
  let socket: RawSocket | undefined;
  let closed = false;
  let attempt = 0;
  let reopenTimer: TimerHandle | undefined;
  let nextId = 1;
  /**
   * Sends queued on the live socket and not answered yet. A socket that
   * fails or is closed never answers them, so they are settled as not sent
   * then: `done` is called exactly once either way.
   */
  let pending = new Set<(sent: boolean) => void>();
  const settlePending = () => {
    const left = pending;
    pending = new Set();
    for (const settle of left) settle(false);
  };

  const warn = (key: string, message: string, fields: Record<string, string | number>) => {
    const suppressed = limiter.admit(key, performance.now());
    if (suppressed >= 0) logger.warn(message, { interface: ifname, ...fields, ...(suppressed > 0 ? { suppressed } : {}) });
  };
  const emitStatus = (status: TransportStatus) => {
    for (const l of [...statusListeners]) {
      try {
        l(status);
      } catch (err) {
        logger.error('VRRP transport status listener threw', { interface: ifname, error: describeError(err) });
      }
    }
  };

  /** A new socket with every option set; throws BatonError 'raw-socket-failed'. */
  function openSocket(): RawSocket {
    let s: RawSocket;
    try {
      s = raw.createSocket({ protocol: VRRP_IP_PROTOCOL, bufferSize: 2048 });
    } catch (err) {
      throw new BatonError('raw-socket-failed', `cannot open a raw socket for VRRP: ${describeError(err)}`, { cause: err });
    }
    try {
      s.setOption(SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${ifname}\0`), ifname.length + 1);
      s.setOption(IPPROTO_IP, IP_HDRINCL, 1);
      // With IP_HDRINCL the header we write wins; these keep the socket right
      // for anything the kernel would build itself.
      s.setOption(IPPROTO_IP, IP_TTL, VRRP_TTL);
      s.setOption(IPPROTO_IP, IP_TOS, VRRP_TOS);
      s.setOption(IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
      s.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
      if (!unicast) {
        const mreqn = ipMreqn(VRRP_MULTICAST_ADDR, primaryAddr, ifindex);
        s.setOption(IPPROTO_IP, IP_MULTICAST_IF, mreqn, mreqn.length);
        s.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, mreqn.length);
      }
    } catch (err) {
      s.close();
      throw new BatonError('raw-socket-failed', `cannot set up the VRRP socket on ${ifname}: ${describeError(err)}`, { cause: err });
    }
    // Events of a socket that was since replaced or closed are ignored.
    s.on('error', (err) => {
      if (s === socket) socketFailed(s, describeError(err));
    });
    s.on('message', (buffer, source) => {
      if (s !== socket) return;
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
    return s;
  }

  function socketFailed(s: RawSocket, error: string): void {
    stats.socketErrors++;
    socket = undefined;
    try {
      s.close(); // raw-socket closes after an 'error' event, but not after a failed receive
    } catch {
      /* already closed */
    }
    settlePending();
    attempt = 0;
    logger.error('VRRP raw socket failed; reopening it', { interface: ifname, error, retry_ms: reopenDelayMs(0) });
    emitStatus({ up: false, error });
    scheduleReopen();
  }

  function scheduleReopen(): void {
    if (closed) return;
    reopenTimer = clock.setTimeout(() => {
      reopenTimer = undefined;
      if (closed) return;
      try {
        socket = openSocket();
      } catch (err) {
        attempt++;
        warn('reopen', 'VRRP raw socket reopen failed', { error: describeError(err), retry_ms: reopenDelayMs(attempt) });
        scheduleReopen();
        return;
      }
      stats.reopens++;
      logger.info('VRRP raw socket reopened', { interface: ifname, attempts: attempt + 1 });
      emitStatus({ up: true });
    }, reopenDelayMs(attempt));
  }

  socket = openSocket();

  return {
    interface: ifname,
    ifindex,
    primaryAddr,
    stats,
    get up() {
      return socket !== undefined;
    },
    send(payload, dstAddr, done) {
      const s = socket;
      if (!s) {
        stats.sendErrors++;
        done?.(false);
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
        done?.(false);
        return;
      }
      const queue = pending;
      let answered = false;
      const settle = (sent: boolean) => {
        if (answered) return;
        answered = true;
        queue.delete(settle);
        if (sent) stats.sent++;
        else stats.sendErrors++;
        done?.(sent);
      };
      queue.add(settle);
      s.send(packet, 0, packet.length, dstAddr, (err) => {
        if (err) warn('send', 'VRRP advert not sent', { dst: dstAddr, error: describeError(err) });
        settle(!err);
      });
    },
    onPacket(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    onStatus(listener) {
      statusListeners.add(listener);
      // A subscriber that arrives while the socket is down learns it at once.
      if (!socket && !closed) listener({ up: false, error: 'socket down, reopening' });
      return () => void statusListeners.delete(listener);
    },
    close() {
      if (closed) return;
      closed = true;
      clock.clearTimeout(reopenTimer);
      reopenTimer = undefined;
      handlers.clear();
      statusListeners.clear();
      const s = socket;
      socket = undefined;
      try {
        s?.close();
      } catch {
        /* already closed by an error */
      }
      settlePending();
    },
  };
}
