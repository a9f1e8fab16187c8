/**
 * The data plane as the control plane sees it: one interface whether the
 * relay runs in this process (`workers: 1`) or in worker processes. Specs and
 * state changes go in, counters come out, all as plain data.
 *
 * Invariants:
 * - apply() is all or nothing across every process: it resolves with the
 *   difference, or rejects and leaves the running services as they were.
 * - setServerState()/setWriter() are fire-and-forget and ordered: a later
 *   call never overtakes an earlier one.
 * - counters() sums every process; counters never go backwards, even when a
 *   worker dies (what it reported last is kept).
 */
import type { ApplyResult, ServerCounters, ServerState, ServiceCounters, ServiceSpec, WriterSwitchOp } from '@baton/proxy';
import { DataPlane } from '@baton/proxy';
import type { Logger, LogLevel } from '@baton/core';

export interface DataPlaneHost {
  /** Number of processes relaying (1 = in this process). */
  readonly workers: number;
  apply(specs: readonly ServiceSpec[]): Promise<ApplyResult>;
  setServerState(service: string, server: string, state: ServerState, reason: string): void;
  setWriter(service: string, server: string | null, reason: string): void;
  /** One step of a planned writer switch, in every process (ordered like the calls above). */
  writerSwitch(service: string, step: WriterSwitchOp): void;
  /** The config's log_level, for the processes this host runs (ordered like the calls above). */
  setLogLevel(level: LogLevel): void;
  counters(): Promise<ServiceCounters[]>;
  activeSessions(): Promise<number>;
  /** Stops accepting, lets sessions finish for up to graceMs, closes the rest; resolves with the number closed. */
  shutdown(graceMs: number): Promise<number>;
}

/** `workers: 1`: the relay on the daemon's own event loop. */
export class LocalDataPlane implements DataPlaneHost {
  readonly workers = 1;
  readonly dataPlane: DataPlane;

  constructor(logger: Logger, engine: 'native' | 'js' = 'native') {
    this.dataPlane = new DataPlane({ logger, engine });
  }

  apply(specs: readonly ServiceSpec[]): Promise<ApplyResult> {
    return this.dataPlane.apply(specs);
  }

  setServerState(service: string, server: string, state: ServerState, reason: string): void {
    this.dataPlane.setServerState(service, server, state, reason);
  }

  setWriter(service: string, server: string | null, reason: string): void {
    this.dataPlane.setWriter(service, server, reason);
  }

  writerSwitch(service: string, step: WriterSwitchOp): void {
    this.dataPlane.writerSwitch(service, step);
  }

  setLogLevel(level: LogLevel): void {
    // The relay logs through the daemon's own logger, whose level the daemon sets.
    void level;
  }

  counters(): Promise<ServiceCounters[]> {
    return Promise.resolve(this.dataPlane.counters());
  }

  activeSessions(): Promise<number> {
    return Promise.resolve(this.dataPlane.activeSessions());
  }

  shutdown(graceMs: number): Promise<number> {
    return this.dataPlane.shutdown(graceMs);
  }
}

/** A server's identity and state with every count at zero. */
const zeroed = (s: ServerCounters): ServerCounters => ({ ...s, active: 0, total: 0, bytesIn: 0, bytesOut: 0, connectErrors: 0, sessionErrors: 0 });

/**
 * Adds `from` into `into`, matched by service and server name. `live`: a
 * running process's snapshot (open sessions count, new names are added);
 * otherwise what a dead worker left: only its running totals count, and only
 * for services and servers that still exist.
 */
export function addCounters(into: Map<string, ServiceCounters>, from: readonly ServiceCounters[], live: boolean): void {
  const withActive = live;
  for (const svc of from) {
    let acc = into.get(svc.name);
    if (!acc && !live) continue;
    if (!acc) {
      acc = {
        ...svc,
        total: 0,
        active: 0,
        refused: 0,
        held: 0,
        queued: 0,
        queueTimeouts: 0,
        queueWait: { buckets: svc.queueWait.buckets.map(() => 0), sumS: 0, count: 0 },
        servers: svc.servers.map(zeroed),
      };
      into.set(svc.name, acc);
    }
    acc.total += svc.total;
    acc.refused += svc.refused;
    acc.queueTimeouts += svc.queueTimeouts;
    acc.queueWait.buckets.forEach((_, i) => (acc.queueWait.buckets[i]! += svc.queueWait.buckets[i] ?? 0));
    acc.queueWait.sumS += svc.queueWait.sumS;
    acc.queueWait.count += svc.queueWait.count;
    if (withActive) acc.held = (acc.held ?? 0) + (svc.held ?? 0);
    if (withActive) acc.queued += svc.queued;
    if (withActive) acc.active += svc.active;
    for (const s of svc.servers) {
      let a = acc.servers.find((x) => x.name === s.name);
      if (!a && !live) continue;
      if (!a) {
        a = zeroed(s);
        acc.servers.push(a);
      }
      a.total += s.total;
      a.bytesIn += s.bytesIn;
      a.bytesOut += s.bytesOut;
      a.connectErrors += s.connectErrors;
      a.sessionErrors += s.sessionErrors;
      if (withActive) a.active += s.active;
    }
  }
}
