/**
 * In-memory implementations of the ports (ports.ts) that record what they
 * were asked to do, for tests and for the in-memory LAN (lan.ts).
 * Invariants: they never throw and never touch the network or the clock
 * unless given one.
 */
import type { Clock } from '@baton/core';
import type { GarpSender, Notifier, StateChange, VipManager, VrrpStats } from './ports.js';
import type { DropReason, VrrpState } from './types.js';

/** Holds the VIPs as a boolean; `calls` lists 'add'/'remove' in order. Can be told to fail. */
export class RecordingVipManager implements VipManager {
  owned = false;
  readonly calls: Array<'add' | 'remove'> = [];
  /** When set, the next calls reject with this error (and change nothing). */
  failWith: Error | undefined;

  add(): Promise<void> {
    this.calls.push('add');
    if (this.failWith) return Promise.reject(this.failWith);
    this.owned = true;
    return Promise.resolve();
  }

  remove(): Promise<void> {
    this.calls.push('remove');
    if (this.failWith) return Promise.reject(this.failWith);
    this.owned = false;
    return Promise.resolve();
  }
}

/** Counts GARP rounds and, given a clock, records when they were sent. */
export class RecordingGarpSender implements GarpSender {
  count = 0;
  readonly atMs: number[] = [];
  constructor(private readonly clock?: Clock) {}

  send(): void {
    this.count++;
    if (this.clock) this.atMs.push(this.clock.now());
  }
}

/** Keeps every state change in order. */
export class RecordingNotifier implements Notifier {
  readonly changes: StateChange[] = [];
  notify(change: StateChange): void {
    this.changes.push(change);
  }
  /** "from>to" strings, for compact assertions. */
  get path(): string[] {
    return this.changes.map((c) => `${c.from}>${c.to}`);
  }
}

/** Plain counters. */
export class CountingStats implements VrrpStats {
  sent = 0;
  received = 0;
  addressMismatches = 0;
  readonly dropped = new Map<DropReason, number>();
  readonly transitions = new Map<VrrpState, number>();
  advertSent(): void {
    this.sent++;
  }
  advertReceived(): void {
    this.received++;
  }
  packetDropped(reason: DropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }
  addressMismatch(): void {
    this.addressMismatches++;
  }
  transition(to: VrrpState): void {
    this.transitions.set(to, (this.transitions.get(to) ?? 0) + 1);
  }
}
