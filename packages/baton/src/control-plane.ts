/**
 * The control plane's decisions: each server's effective state from its
 * health and its operator setting, and each writer service's writer.
 *
 * Invariants:
 * - Effective state: operator `maint` > operator `drain` > health (up/down).
 *   A manual drain or maint wins over health; `ready` hands control back to
 *   health.
 * - The writer is recomputed after every change, with chooseWriter(); the
 *   data plane hears only actual changes, each once, with a reason.
 * - No I/O here: the data plane is reached through the DataPlaneLink port, so
 *   the same decisions drive an in-process data plane or worker processes.
 */
import type { ServerState } from '@baton/proxy';
import type { BatonConfig, ServiceConfig } from './config/types.js';
import { initialServerState } from './specs.js';
import { chooseWriter, type WriterCandidate } from './writer.js';

export type AdminState = 'ready' | 'drain' | 'maint';

/** A writer candidate as the control plane sees it: WriterCandidate plus whether its checks have given a verdict yet. */
export interface ArbiterCandidate extends WriterCandidate {
  pending: boolean;
}

/**
 * Who names a writer service's writer when it is not this node alone (the
 * cluster agreement): given this node's view of the servers, the writer
 * this node names now. Without an arbiter the control plane uses
 * chooseWriter() itself.
 */
export interface WriterArbiter {
  writer(service: ServiceConfig, candidates: readonly ArbiterCandidate[], current: string | null): { writer: string | null; reason?: string };
}

export interface DataPlaneLink {
  setServerState(service: string, server: string, state: ServerState, reason: string): void;
  setWriter(service: string, server: string | null, reason: string): void;
}

interface ServerControl {
  health: 'up' | 'down';
  healthReason: string;
  admin: AdminState;
  effective: ServerState;
  galeraIndex?: number;
  /** Whether its checks have given a first verdict (always true without health checks). */
  checked: boolean;
}

interface ServiceControl {
  config: ServiceConfig;
  servers: Map<string, ServerControl>;
  writer: string | null;
}

export interface ServerStatus {
  health: 'up' | 'down';
  healthReason: string;
  admin: AdminState;
  state: ServerState;
}

function effectiveState(s: ServerControl): ServerState {
  if (s.admin === 'maint') return 'maint';
  if (s.admin === 'drain') return 'drain';
  return s.health;
}

/** Told after every effective server-state or writer change. */
export type ControlListener = (event: { service: string; server?: string; state?: ServerState; writer?: string | null; reason: string }) => void;

export class ControlPlane {
  private services = new Map<string, ServiceControl>();
  private readonly listeners = new Set<ControlListener>();
  private arbiter: WriterArbiter | undefined;

  /** Hands writer decisions to an arbiter (or back to chooseWriter with undefined). */
  setArbiter(arbiter: WriterArbiter | undefined): void {
    this.arbiter = arbiter;
  }

  /** Re-decides the writer of one writer service, or of all; for an arbiter whose inputs changed. */
  rethink(service?: string): void {
    for (const svc of this.services.values()) {
      if (svc.config.balance !== 'writer' || (service !== undefined && svc.config.name !== service)) continue;
      this.decideWriter(svc, svc.writer, 'cluster');
    }
  }

  /**
   * A server's checks have reached a first verdict: up, or a failed check.
   * Until then a writer decision could be undone by the next check.
   */
  markChecked(service: string, server: string): void {
    const svc = this.services.get(service);
    const s = svc?.servers.get(server);
    if (!svc || !s || s.checked) return;
    s.checked = true;
    if (svc.config.balance === 'writer') this.decideWriter(svc, svc.writer, 'first check');
  }

  /** Subscribes to state and writer changes; returns the unsubscribe function. */
  subscribe(listener: ControlListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: Parameters<ControlListener>[0]): void {
    for (const l of this.listeners) l(event);
  }

  constructor(private readonly link: DataPlaneLink) {}

  /**
   * Takes a (new) config. Servers that exist in both keep their health and
   * operator state; new servers start in their initial state. Writers are
   * re-decided. The data plane must already have the new specs applied.
   */
  setConfig(config: BatonConfig): void {
    const next = new Map<string, ServiceControl>();
    for (const svc of config.services) {
      const previous = this.services.get(svc.name);
      const servers = new Map<string, ServerControl>();
      for (const server of svc.servers) {
        const old = previous?.servers.get(server.name);
        if (old) {
          servers.set(server.name, old);
        } else {
          const health = initialServerState(svc) === 'up' ? 'up' : 'down';
          servers.set(server.name, { health, healthReason: 'initial', admin: 'ready', effective: health, checked: svc.health === undefined });
        }
      }
      next.set(svc.name, { config: svc, servers, writer: previous?.writer ?? null });
    }
    this.services = next;
    this.emit({ service: '*', reason: 'config' });
    for (const svc of next.values()) {
      // Re-assert states: a service whose listener was re-created starts from its spec's initial state.
      for (const [name, s] of svc.servers) this.link.setServerState(svc.config.name, name, s.effective, 'config');
      if (svc.config.balance === 'writer') {
        // The data plane may hold a writer from before; re-decide and re-send.
        const writer = svc.writer;
        svc.writer = null;
        this.decideWriter(svc, writer, 'config');
      }
    }
  }

  setHealth(service: string, server: string, up: boolean, reason: string, galeraIndex?: number): void {
    const svc = this.services.get(service);
    const s = svc?.servers.get(server);
    if (!svc || !s) return;
    s.galeraIndex = galeraIndex;
    s.healthReason = reason;
    const health = up ? 'up' : 'down';
    if (s.health !== health) {
      s.health = health;
      this.update(svc, server, s, reason);
    } else if (svc.config.writer?.pick === 'galera-index') {
      this.decideWriter(svc, svc.writer, reason);
    }
  }

  /** Operator setting; returns false for an unknown service or server. */
  setAdmin(service: string, server: string, admin: AdminState): boolean {
    const svc = this.services.get(service);
    const s = svc?.servers.get(server);
    if (!svc || !s) return false;
    s.admin = admin;
    this.update(svc, server, s, `operator ${admin}`);
    return true;
  }

  private update(svc: ServiceControl, name: string, s: ServerControl, reason: string): void {
    const effective = effectiveState(s);
    if (effective !== s.effective) {
      s.effective = effective;
      this.link.setServerState(svc.config.name, name, effective, reason);
      this.emit({ service: svc.config.name, server: name, state: effective, reason });
    }
    if (svc.config.balance === 'writer') this.decideWriter(svc, svc.writer, reason);
  }

  private decideWriter(svc: ServiceControl, current: string | null, reason: string): void {
    const writerCfg = svc.config.writer ?? { pick: 'first' as const, failback: false, onChange: 'close' as const };
    const candidates: ArbiterCandidate[] = svc.config.servers.map((cfg) => {
      const s = svc.servers.get(cfg.name)!;
      return { name: cfg.name, up: s.effective === 'up', backup: cfg.backup, galeraIndex: s.galeraIndex, pending: !s.checked };
    });
    let writer: string | null;
    if (this.arbiter) {
      const decided = this.arbiter.writer(svc.config, candidates, current);
      writer = decided.writer;
      reason = decided.reason ?? reason;
    } else {
      writer = chooseWriter(writerCfg, candidates, current);
    }
    if (writer === svc.writer) return;
    svc.writer = writer;
    this.link.setWriter(svc.config.name, writer, reason);
    this.emit({ service: svc.config.name, writer, reason });
  }

  writer(service: string): string | null {
    return this.services.get(service)?.writer ?? null;
  }

  status(service: string, server: string): ServerStatus | undefined {
    const s = this.services.get(service)?.servers.get(server);
    return s && { health: s.health, healthReason: s.healthReason, admin: s.admin, state: s.effective };
  }

  /** Services that have no server taking new clients (for VRRP's track.services). */
  servicesWithoutUpServer(): string[] {
    const out: string[] = [];
    for (const svc of this.services.values()) {
      if (![...svc.servers.values()].some((s) => s.effective === 'up')) out.push(svc.config.name);
    }
    return out;
  }
}
