/**
 * Gratuitous ARP for the virtual IPs (RFC 5798 §6.4.1 (2), RFC 3768 §6.4.1):
 * on becoming master the new owner broadcasts an ARP request for each VIP,
 * with its own MAC as sender, so switches and neighbours repoint the VIP at
 * it at once instead of waiting for their ARP entries to expire.
 *
 * Two halves:
 * - `buildGarpFrame()` is pure: the 42-byte Ethernet + ARP frame, byte for
 *   byte what keepalived sends (checked against its captures in
 *   packages/vrrp/test/fixtures/vectors): broadcast destination, ARP request, sender and target
 *   protocol address both the VIP, target hardware address ff:ff:ff:ff:ff:ff.
 * - `openGarpSender()` sends those frames on an AF_PACKET socket through a
 *   small native addon (native/af_packet.cc). It is hand-written because no
 *   maintained npm package does AF_PACKET, and shelling out to `arping` would
 *   fork per VIP at exactly the moment failover must be fast.
 *
 * Invariants:
 * - `send()` never throws (GarpSender port): a failed send is logged and
 *   counted in `failures`, and the next call tries again.
 * - The interface's index and MAC are read once over rtnetlink at open; if
 *   the interface is recreated, the caller opens a new sender.
 * - Repeats, spacing and refresh (`garp.repeat`, `garp.interval`,
 *   `garp.refresh`) are the router's timing, not this adapter's: one
 *   `send()` is one frame per VIP.
 */
import { createRequire } from 'node:module';
import { BatonError, describeError, silentLogger, type Logger } from '@baton/core';
import type { GarpSender } from '../ports.js';
import { findLink, formatMac, ipv4Bytes, openRtNetlink } from './netlink-util.js';

/** Ethernet header (14) + ARP for IPv4 over Ethernet (28), RFC 826. */
export const GARP_FRAME_BYTES = 42;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV4 = 0x0800;
const ARP_HTYPE_ETHERNET = 1;
const ARP_OP_REQUEST = 1;

/** Parses "aa:bb:cc:dd:ee:ff" (or '-' separated) into 6 bytes; throws BatonError 'bad-mac' otherwise. */
export function parseMac(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new BatonError('bad-mac', `not a MAC address: ${mac}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/**
 * The gratuitous ARP request keepalived sends for `ip` from `senderMac`
 * (a 6-byte Buffer or "aa:bb:.." string). Pure; throws only on a bad MAC or
 * address, which is a configuration bug.
 */
export function buildGarpFrame(senderMac: Buffer | string, ip: string): Buffer {
  const mac = typeof senderMac === 'string' ? parseMac(senderMac) : senderMac;
  if (mac.length !== 6) throw new BatonError('bad-mac', `MAC must be 6 bytes, got ${mac.length}`);
  const addr = ipv4Bytes(ip);
  const f = Buffer.alloc(GARP_FRAME_BYTES);
  // Ethernet: to everyone on the segment, from us.
  f.fill(0xff, 0, 6);
  mac.copy(f, 6);
  f.writeUInt16BE(ETHERTYPE_ARP, 12);
  // ARP (RFC 826): Ethernet/IPv4, request.
  f.writeUInt16BE(ARP_HTYPE_ETHERNET, 14);
  f.writeUInt16BE(ETHERTYPE_IPV4, 16);
  f.writeUInt8(6, 18);
  f.writeUInt8(4, 19);
  f.writeUInt16BE(ARP_OP_REQUEST, 20);
  mac.copy(f, 22);
  addr.copy(f, 28);
  // Target hardware address all ones, as keepalived does; receivers ignore
  // it in a request, and sender IP = target IP is what makes it gratuitous.
  f.fill(0xff, 32, 38);
  addr.copy(f, 38);
  return f;
}

/** The native addon's surface (native/af_packet.cc). */
interface NativePacketSocket {
  send(frame: Buffer): number;
  close(): void;
}
interface AfPacketAddon {
  PacketSocket: new (ifindex: number) => NativePacketSocket;
}

let addon: AfPacketAddon | undefined;

/** Loads the addon built by `node-gyp rebuild` at install (packages/vrrp/build/Release). */
function loadAddon(): AfPacketAddon {
  if (!addon) {
    // Compiled to dist/src/io/garp.js, so the package root is three levels up.
    const require = createRequire(import.meta.url);
    try {
      addon = require('../../../build/Release/af_packet.node') as AfPacketAddon;
    } catch (err) {
      throw new BatonError('garp-addon-missing', 'the AF_PACKET addon is not built (run npm install in the repository)', {
        cause: err,
      });
    }
  }
  return addon;
}

export interface GarpSenderOptions {
  /** Interface to send on, e.g. eth0. */
  interface: string;
  /** The VIPs, as "10.0.0.10" or "10.0.0.10/24" (the prefix is ignored). IPv4 only. */
  vips: readonly string[];
  /** Sender MAC; default the interface's own. */
  mac?: string;
  logger?: Logger;
}

export interface LinuxGarpSender extends GarpSender {
  readonly ifindex: number;
  /** The sender MAC, "aa:bb:cc:dd:ee:ff". */
  readonly mac: string;
  /** Frames sent and send failures since open. */
  readonly sent: number;
  readonly failures: number;
  /** Release the socket. Idempotent; send() after close() only counts a failure. */
  close(): void;
}

/**
 * Opens an AF_PACKET socket on `interface` for gratuitous ARP. Rejects with a
 * BatonError ('no-such-interface', 'garp-addon-missing', 'garp-open-failed')
 * when the interface is missing, the addon is not built, or the process lacks
 * CAP_NET_RAW: all configuration or deployment errors, reported at start.
 */
export async function openGarpSender(options: GarpSenderOptions): Promise<LinuxGarpSender> {
  const logger = options.logger ?? silentLogger;
  const nl = openRtNetlink();
  let ifindex: number;
  let mac: Buffer;
  try {
    const link = await findLink(nl, options.interface);
    ifindex = link.index;
    if (options.mac !== undefined) mac = parseMac(options.mac);
    else if (link.mac) mac = link.mac;
    else throw new BatonError('no-mac', `interface ${options.interface} has no hardware address`);
  } finally {
    nl.socket.close();
  }
  const frames = options.vips.map((vip) => buildGarpFrame(mac, vip.split('/')[0] ?? vip));
  let socket: NativePacketSocket | undefined;
  try {
    socket = new (loadAddon().PacketSocket)(ifindex);
  } catch (err) {
    if (err instanceof BatonError) throw err;
    throw new BatonError('garp-open-failed', `cannot open AF_PACKET socket on ${options.interface}: ${describeError(err)}`, {
      cause: err,
    });
  }
  let sent = 0;
  let failures = 0;
  const macText = formatMac(mac);
  return {
    ifindex,
    mac: macText,
    get sent() {
      return sent;
    },
    get failures() {
      return failures;
    },
    send() {
      for (const frame of frames) {
        try {
          if (!socket) throw new BatonError('closed', 'GARP sender is closed');
          socket.send(frame);
          sent++;
        } catch (err) {
          failures++;
          logger.warn('gratuitous ARP send failed', { interface: options.interface, error: describeError(err) });
        }
      }
    },
    close() {
      socket?.close();
      socket = undefined;
    },
  };
}
