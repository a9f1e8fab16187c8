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
 * - A reload keeps a server's health only while it is still the same thing
 *   checked the same way: a server whose address changed starts again from
 *   `health.initial`, and the servers of a service whose `health:` section
 *   went are up (a service without checks has its servers always up).
 * - `pick: galera-index` with `failback: false`: the first writer of a new
 *   service is picked only once every server has a verdict (up with its
 *   wsrep_local_index, or down), or when the wait is ended (the health
 *   subsystem ends it after (rise + 1) × interval + timeout). Otherwise the
 *   first node whose check happened to finish first would keep the writer,
 *   and two nodes checking in a different order would disagree. With
 *   failback the writer is a pure function of the current states and needs
 *   no wait.
 * - No I/O here: the data plane is reached through the DataPlaneLink port, so
 *   the same decisions drive an in-process data plane or worker processes.
 * - A writer change is decided here and logged here, once (`writer
 *   changed`); the data plane, in every worker, only applies it. A server's
 *   state change is logged by whoever decided it (health: `server down`/`up`,
 *   the admin API: `operator change`), not here.
 */
import { silentLogger, type Logger } from '@baton/core';
import type { ServerState } from '@baton/proxy';
import type { BatonConfig, ServiceConfig } from './config/types.js';
import { initialServerState } from './specs.js';
import { chooseWriter, type WriterCandidate } from './writer.js';

export type AdminState = 'ready' | 'drain' | 'maint';

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
  /** A check has decided this server since it (re)started: down, or up with what the writer pick needs. */
  verdict: boolean;
}

interface ServiceControl {
  config: ServiceConfig;
  servers: Map<string, ServerControl>;
  writer: string | null;
  /** The first writer pick waits for every server's verdict (galera-index without failback). */
  awaitingVerdicts: boolean;
}

function sameAddress(a: ServiceConfig['servers'][number]['address'], b: ServiceConfig['servers'][number]['address']): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Whether the first writer pick of this service waits for every server's verdict. */
function waitsForVerdicts(svc: ServiceConfig): boolean {
  return svc.balance === 'writer' && svc.writer?.pick === 'galera-index' && !svc.writer.failback;
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

  /** Subscribes to state and writer changes; returns the unsubscribe function. */
  subscribe(listener: ControlListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: Parameters<ControlListener>[0]): void {
    for (const l of this.listeners) l(event);
  }

  constructor(
    private readonly link: DataPlaneLink,
    private readonly logger: Logger = silentLogger,
  ) {}

  /**
   * Takes a (new) config. Servers that exist in both keep their health and
   * operator state, except that a changed address starts again from the
   * initial state and a removed health section makes the servers up; new
   * servers start in their initial state. Writers are re-decided. The data
   * plane must already have the new specs applied.
   */
  setConfig(config: BatonConfig): void {
    const next = new Map<string, ServiceControl>();
    /** Servers whose health this config reset, with the reason the data plane logs. */
    const resets = new Map<ServerControl, string>();
    for (const svc of config.services) {
      const previous = this.services.get(svc.name);
      const servers = new Map<string, ServerControl>();
      const initial = initialServerState(svc) === 'up' ? 'up' : 'down';
      for (const server of svc.servers) {
        const old = previous?.servers.get(server.name);
        const oldAddress = previous?.config.servers.find((s) => s.name === server.name)?.address;
        if (!old || !oldAddress) {
          servers.set(server.name, { health: initial, healthReason: 'initial', admin: 'ready', effective: initial, verdict: !svc.health });
        } else if (!svc.health && previous.config.health) {
          // Nothing will ever check it again: a verdict kept from the old checks would hold forever.
          resets.set(old, 'health checks removed');
          Object.assign(old, { health: 'up', healthReason: 'health checks removed', galeraIndex: undefined, verdict: true });
          servers.set(server.name, old);
        } else if (svc.health && !sameAddress(oldAddress, server.address)) {
          // Another address is another backend: the old verdict says nothing about it. The operator setting stays.
          resets.set(old, 'address changed');
          Object.assign(old, { health: initial, healthReason: 'address changed', galeraIndex: undefined, verdict: false });
          servers.set(server.name, old);
        } else {
          servers.set(server.name, old);
        }
      }
      // Only a new service waits; a reload while a service waits keeps it waiting.
      const awaitingVerdicts = waitsForVerdicts(svc) && (previous ? previous.awaitingVerdicts : true);
      next.set(svc.name, { config: svc, servers, writer: previous?.writer ?? null, awaitingVerdicts });
    }
    this.services = next;
    this.emit({ service: '*', reason: 'config' });
    for (const svc of next.values()) {
      // Re-assert states: a service whose listener was re-created starts from its spec's initial state.
      for (const [name, s] of svc.servers) {
        const reason = resets.get(s);
        const effective = effectiveState(s);
        const changed = effective !== s.effective;
        // A reset is decided here, not by a check: this is its one line.
        if (changed && reason) this.logger.info('server state', { service: svc.config.name, server: name, from: s.effective, to: effective, reason });
        s.effective = effective;
        this.link.setServerState(svc.config.name, name, effective, reason ?? 'config');
        if (changed) this.emit({ service: svc.config.name, server: name, state: effective, reason: reason ?? 'config' });
      }
      if (svc.config.balance === 'writer') {
        // The data plane may hold a writer from before; re-decide and re-send.
        this.decideWriter(svc, svc.writer, 'config', true);
      }
    }
  }

  setHealth(service: string, server: string, up: boolean, reason: string, galeraIndex?: number): void {
    const svc = this.services.get(service);
    const s = svc?.servers.get(server);
    if (!svc || !s) return;
    s.galeraIndex = galeraIndex;
    s.healthReason = reason;
    s.verdict = !up || svc.config.writer?.pick !== 'galera-index' || galeraIndex !== undefined;
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

  /**
   * Servers the first writer pick of `service` still waits for (drained and
   * maintained servers are not waited for); undefined when it does not wait.
   */
  awaitingVerdicts(service: string): string[] | undefined {
    const svc = this.services.get(service);
    if (!svc?.awaitingVerdicts) return undefined;
    return [...svc.servers].filter(([, s]) => !s.verdict && s.admin === 'ready').map(([name]) => name);
  }

  /**
   * Ends the wait for verdicts and picks the writer from what is known.
   * Returns the servers that had no verdict yet, or undefined when the
   * service was not waiting.
   */
  endVerdictWait(service: string, reason: string): string[] | undefined {
    const svc = this.services.get(service);
    const missing = this.awaitingVerdicts(service);
    if (!svc || !missing) return undefined;
    svc.awaitingVerdicts = false;
    this.decideWriter(svc, svc.writer, reason);
    return missing;
  }

  /** `resend`: tell the data plane even when the writer is unchanged (a reload may have re-created its service). */
  private decideWriter(svc: ServiceControl, current: string | null, reason: string, resend = false): void {
    if (svc.awaitingVerdicts) {
      if (this.awaitingVerdicts(svc.config.name)!.length > 0) return;
      svc.awaitingVerdicts = false;
    }
    const writerCfg = svc.config.writer ?? { pick: 'first' as const, failback: false, onChange: 'close' as const };
    const candidates: WriterCandidate[] = svc.config.servers.map((cfg) => {
      const s = svc.servers.get(cfg.name)!;
      return { name: cfg.name, up: s.effective === 'up', backup: cfg.backup, galeraIndex: s.galeraIndex };
    });
    const writer = chooseWriter(writerCfg, candidates, current);
    if (writer === svc.writer && !resend) return;
    svc.writer = writer;
    if (writer !== current) this.logger.info('writer changed', { service: svc.config.name, from: current ?? 'none', to: writer ?? 'none', reason });
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
