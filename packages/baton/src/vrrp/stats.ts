/**
 * Counters of one VRRP instance, kept by the subsystem for the admin API,
 * the metrics and the stats log line. It implements the router's VrrpStats
 * port, plus the drops the raw transport decides itself ('unknown-source').
 *
 * Invariants: counters only grow for the life of the instance (a restarted
 * instance starts a new object); `toJSON()` is a plain copy, safe to send
 * over IPC or serialise.
 */
import { DROP_REASONS, type DropReason, type VrrpState, type VrrpStats } from '@baton/vrrp';

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  /** Adverts processed although their address list differs from ours (not drops). */
  addressMismatches: number;
  /** Every drop reason, zero included, so a dashboard sees the label set at once. */
  drops: Record<DropReason, number>;
  /** Transitions by destination state. */
  transitions: Record<VrrpState, number>;
}

export class InstanceStats implements VrrpStats {
  private readonly c: InstanceCounters = {
    advertsSent: 0,
    advertsReceived: 0,
    addressMismatches: 0,
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    transitions: { init: 0, backup: 0, master: 0, fault: 0 },
  };

  advertSent(): void {
    this.c.advertsSent++;
  }

  advertReceived(): void {
    this.c.advertsReceived++;
  }

  addressMismatch(): void {
    this.c.addressMismatches++;
  }

  packetDropped(reason: DropReason): void {
    this.c.drops[reason] = (this.c.drops[reason] ?? 0) + 1;
  }

  transition(to: VrrpState): void {
    this.c.transitions[to]++;
  }

  get totalDrops(): number {
    return Object.values(this.c.drops).reduce((a, b) => a + b, 0);
  }

  toJSON(): InstanceCounters {
    return { ...this.c, drops: { ...this.c.drops }, transitions: { ...this.c.transitions } };
  }
}
