/**
 * A service's server pool: the servers, their states and counters, and the
 * rule that decides which of them a balancer may pick.
 *
 * Invariants:
 * - A server is eligible for new clients iff its state is 'up', and, on
 *   non-writer services, it is a primary or no primary is usable (backup
 *   servers take clients only while every primary is down, drained or in
 *   maintenance, as HAProxy's `backup`).
 * - The balancer hears about eligibility changes here, once, when they happen;
 *   pick() never rescans the pool.
 * - Counters are plain numbers on the server objects; sessions update them.
 */
import type { Balancer, BalanceKind, BalancedServer } from './balancers/balancer.js';
import { createBalancer, type BalancerOptions } from './balancers/index.js';
import type { ServerCounters, ServerSpec, ServerState } from './types.js';
import { LocalSlotCount, type SlotCount } from './limits.js';

/** What the pool needs of a session: close it, and read what it moved so far. */
export interface PooledSession {
  close(reason: string): void;
  /** Bytes relayed so far from the client to the server. */
  readonly liveBytesIn: number;
  /** Bytes relayed so far from the server to the client. */
  readonly liveBytesOut: number;
}

export class PoolServer implements BalancedServer {
  readonly name: string;
  host: string;
  port: number;
  weight: number;
  backup: boolean;
  /** PROXY protocol version sent first (0: none). */
  sendProxy: 0 | 1 | 2;
  state: ServerState;
  /** Whether the balancer currently holds this server as eligible. */
  eligible = false;
  /** False once removed from the pool by a reload; its sessions may still run. */
  inPool = true;
  active = 0;
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  connectErrors = 0;
  sessionErrors = 0;
  /** Session limit (0: none). */
  maxConnections = 0;
  /**
   * Daemon-wide count of this server's sessions; present once the server has
   * had a limit (from then on every acquire and release counts in it, so a
   * limit can change on reload without the count drifting).
   */
  slots: SlotCount | undefined;
  readonly sessions = new Set<PooledSession>();

  constructor(spec: ServerSpec) {
    this.name = spec.name;
    this.host = spec.host;
    this.port = spec.port;
    this.weight = spec.weight;
    this.backup = spec.backup;
    this.sendProxy = spec.sendProxy ?? 0;
    this.state = spec.initialState ?? 'up';
  }

  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }
}

export class Pool {
  readonly servers: PoolServer[] = [];
  private readonly byName = new Map<string, PoolServer>();
  balancer: Balancer<PoolServer>;

  constructor(
    public kind: BalanceKind,
    specs: readonly ServerSpec[],
    private readonly balancerOptions: BalancerOptions = {},
    /** Where daemon-wide counts live (shared by worker processes), by key; undefined: in this process. */
    private readonly counts?: (server: string) => SlotCount | undefined,
  ) {
    this.balancer = createBalancer(kind, balancerOptions) as Balancer<PoolServer>;
    for (const spec of specs) this.addServer(spec);
    this.refresh();
  }

  /** Switches the balancing algorithm (a reload changed `balance`); a writer must be named again. */
  setKind(kind: BalanceKind): void {
    this.kind = kind;
    this.balancer = createBalancer(kind, this.balancerOptions) as Balancer<PoolServer>;
    for (const s of this.servers) s.eligible = false;
    this.refresh();
  }

  get(name: string): PoolServer | undefined {
    return this.byName.get(name);
  }

  /** Adds a server (initially in spec.initialState); call refresh() after a batch. */
  addServer(spec: ServerSpec): PoolServer {
    const server = new PoolServer(spec);
    this.servers.push(server);
    this.byName.set(server.name, server);
    this.setLimit(server, spec.maxConnections ?? 0);
    return server;
  }

  /**
   * Sets a server's session limit. The first limit creates its count, which
   * starts with the sessions this process already has open there (in every
   * worker, so the daemon-wide sum is right).
   */
  setLimit(server: PoolServer, limit: number): void {
    server.maxConnections = limit;
    if (limit > 0 && !server.slots) {
      const slots = this.counts?.(server.name) ?? new LocalSlotCount();
      for (let i = 0; i < server.active; i++) slots.add();
      server.slots = slots;
    }
  }

  /** Removes a server from the pool; its open sessions are left to finish. */
  removeServer(name: string): PoolServer | undefined {
    const server = this.byName.get(name);
    if (!server) return undefined;
    this.byName.delete(name);
    this.servers.splice(this.servers.indexOf(server), 1);
    server.inPool = false;
    if (server.eligible) {
      server.eligible = false;
      this.balancer.setState(server, false);
    }
    return server;
  }

  setWeight(server: PoolServer, weight: number): void {
    if (server.weight === weight) return;
    server.weight = weight;
    this.balancer.setWeight(server, weight);
  }

  /** Re-derives eligibility after any state, weight or membership change. */
  refresh(): void {
    const writer = this.kind === 'writer';
    let primaryUsable = false;
    if (!writer) {
      for (const s of this.servers) {
        if (!s.backup && s.state === 'up' && s.weight > 0) {
          primaryUsable = true;
          break;
        }
      }
    }
    for (const s of this.servers) {
      const eligible = s.state === 'up' && (writer || !s.backup || !primaryUsable);
      if (eligible !== s.eligible) {
        s.eligible = eligible;
        this.balancer.setState(s, eligible);
      }
    }
  }

  counters(): ServerCounters[] {
    return this.servers.map(serverCounters);
  }
}

/** Live counters: closed sessions' bytes plus what open sessions moved so far. */
export function serverCounters(s: PoolServer): ServerCounters {
  let liveIn = 0;
  let liveOut = 0;
  for (const session of s.sessions) {
    liveIn += session.liveBytesIn;
    liveOut += session.liveBytesOut;
  }
  return {
    name: s.name,
    address: s.address,
    state: s.state,
    weight: s.weight,
    backup: s.backup,
    active: s.active,
    total: s.total,
    bytesIn: s.bytesIn + liveIn,
    bytesOut: s.bytesOut + liveOut,
    connectErrors: s.connectErrors,
    sessionErrors: s.sessionErrors,
    maxConnections: s.maxConnections,
  };
}
