/**
 * An in-memory LAN of VRRP routers on one clock: every advert a router sends
 * becomes a real IPv4 packet (encodeIpPacket, TTL 255) delivered, after
 * `latencyMs`, to each other attached router (multicast) or to the one
 * addressed (unicast) — unless the link between them is cut. With a
 * FakeClock this makes elections, preemption, split brain and heal
 * deterministic.
 *
 * Invariants: delivery is always asynchronous (a clock timer, even at 0 ms),
 * so a router never re-enters itself through the LAN; packets between two
 * routers arrive in the order they were sent; a router that is `silenced`
 * (a SIGKILL) neither sends nor receives.
 */
import type { Clock } from '@baton/core';
import { encodeIpPacket } from './codec.js';
import { VRRP_MULTICAST_ADDR } from './constants.js';
import { CountingStats, RecordingGarpSender, RecordingNotifier, RecordingVipManager } from './fakes.js';
import type { AdvertTransport } from './ports.js';
import { Router, type RouterConfig } from './router.js';

/** One packet that went on the wire. */
export interface LanPacket {
  atMs: number;
  srcAddr: string;
  dstAddr: string;
  payload: Buffer;
}

export interface LanNode {
  addr: string;
  router: Router;
  vips: RecordingVipManager;
  garp: RecordingGarpSender;
  notifier: RecordingNotifier;
  stats: CountingStats;
}

interface Port {
  addr: string;
  receive: (ipPacket: Buffer) => void;
  silenced: boolean;
}

export class MemoryLan {
  /** Every packet sent, in order (including ones a cut link then dropped). */
  readonly packets: LanPacket[] = [];
  private readonly ports = new Map<string, Port>();
  private readonly cuts = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs = 0,
  ) {}

  /** Attach a host with address `addr`; `receive` gets each delivered IPv4 packet. Returns its transport. */
  attach(addr: string, receive: (ipPacket: Buffer) => void): AdvertTransport {
    const port: Port = { addr, receive, silenced: false };
    this.ports.set(addr, port);
    return {
      send: (payload, dstAddr, done) => {
        this.send(port, payload, dstAddr);
        done?.(true);
      },
    };
  }

  /** Build a Router with recording fake ports, attached to this LAN. */
  addRouter(config: RouterConfig): LanNode {
    const vips = new RecordingVipManager();
    const garp = new RecordingGarpSender(this.clock);
    const notifier = new RecordingNotifier();
    const stats = new CountingStats();
    let router: Router | undefined;
    const transport = this.attach(config.primaryAddr, (p) => router?.handlePacket(p));
    router = new Router({ config, clock: this.clock, transport, vips, garp, notifier, stats });
    return { addr: config.primaryAddr, router, vips, garp, notifier, stats };
  }

  /** Silence a host completely (crash / SIGKILL) or bring it back. */
  setSilenced(addr: string, silenced: boolean): void {
    const port = this.ports.get(addr);
    if (port) port.silenced = silenced;
  }

  /** Cut the links between every host of `a` and every host of `b` (a split brain). */
  cut(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) this.cuts.add(linkKey(x, y));
  }

  /** Restore every link. */
  heal(): void {
    this.cuts.clear();
  }

  private send(from: Port, payload: Buffer, dstAddr: string): void {
    const atMs = this.clock.now();
    this.packets.push({ atMs, srcAddr: from.addr, dstAddr, payload: Buffer.from(payload) });
    if (from.silenced) return;
    const packet = encodeIpPacket(payload, { srcAddr: from.addr, dstAddr });
    for (const to of this.ports.values()) {
      if (to === from) continue; // multicast loop is off, as on the real transport
      if (dstAddr !== VRRP_MULTICAST_ADDR && dstAddr !== to.addr) continue;
      if (this.cuts.has(linkKey(from.addr, to.addr))) continue;
      this.clock.setTimeout(() => {
        if (!to.silenced && !this.cuts.has(linkKey(from.addr, to.addr))) to.receive(packet);
      }, this.latencyMs);
    }
  }
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
