/**
 * The data plane: every service of a config, applied as a whole.
 *
 * apply() is all-or-nothing: listeners for new services and for services
 * whose listen address changed are bound first; if any cannot be bound, the
 * ones just bound are closed and the running services are left exactly as
 * they were. Only then are services updated and removed listeners closed.
 * Sessions of removed services and servers run until they end (or until
 * shutdown); a session whose service and server are unchanged is never
 * touched by a reload.
 */
import type { ServiceListener } from './engine/listener.js';
import { BatonError, silentLogger, type Logger } from '@baton/core';
import { Service, type RelayEngine, type WriterSwitchOp } from './service.js';
import type { ApplyResult, ServerState, ServiceCounters, ServiceSpec } from './types.js';
import type { SlotCountSource } from './limits.js';

export interface DataPlaneOptions {
  logger?: Logger;
  /** roundrobin across processes: the shared sequence of a service, by name (see RoundRobinBalancer). */
  sequenceFor?: (service: string) => (() => number) | undefined;
  /** Which relay moves the bytes (see ServiceOptions.engine). */
  engine?: RelayEngine;
  /** Native engine: listening descriptors handed down by the daemon (see ServiceOptions). */
  inheritedListener?: (host: string, port: number) => number | undefined;
  /** Connection counts shared with the other workers (see ServiceOptions.counts). */
  counts?: SlotCountSource;
}

const listenKey = (spec: ServiceSpec) => `${spec.host}:${spec.port}`;

export class DataPlane {
  private readonly services = new Map<string, Service>();
  /** Services removed by a reload whose sessions are still finishing. */
  private readonly retired = new Set<Service>();
  private readonly logger: Logger;
  private readonly sequenceFor: DataPlaneOptions['sequenceFor'];
  private readonly options: DataPlaneOptions;

  constructor(options: DataPlaneOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.sequenceFor = options.sequenceFor;
    this.options = options;
  }

  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  async apply(specs: readonly ServiceSpec[]): Promise<ApplyResult> {
    const result: ApplyResult = { added: [], removed: [], changed: [] };
    const wanted = new Map(specs.map((s) => [s.name, s]));
    // Ports given up by this reload are released first, so a port may move between services.
    const releasing = [...this.services.values()].filter((s) => {
      const next = wanted.get(s.name);
      return !next || listenKey(next) !== listenKey(s.spec);
    });
    const takenBack = new Set(specs.map(listenKey));
    const toRelease = releasing.filter((s) => takenBack.has(listenKey(s.spec)));
    for (const s of toRelease) await s.stopListening();

    // 1. Bind every new address.
    const fresh: Service[] = [];
    const moved = new Map<Service, ServiceListener>();
    try {
      for (const spec of specs) {
        const current = this.services.get(spec.name);
        if (!current) {
          const service = new Service(spec, {
            logger: this.logger,
            sequence: this.sequenceFor?.(spec.name),
            engine: this.options.engine,
            inheritedListener: this.options.inheritedListener,
            counts: this.options.counts,
          });
          await service.listen();
          fresh.push(service);
        } else if (listenKey(current.spec) !== listenKey(spec)) {
          moved.set(current, await current.openListener(spec.host, spec.port));
        }
      }
    } catch (err) {
      await Promise.all(fresh.map((s) => s.stopListening()));
      for (const server of moved.values()) server.close();
      // Give back the ports released above: the running config stays whole.
      for (const s of toRelease) await s.listen().catch(() => undefined);
      throw new BatonError('listen-failed', `cannot listen: ${(err as Error).message}`, { cause: err });
    }

    // 2. Commit: nothing below can fail.
    for (const [name, service] of this.services) {
      const spec = wanted.get(name);
      if (!spec) {
        this.services.delete(name);
        void service.stopListening();
        if (service.activeSessions > 0) this.retired.add(service);
        result.removed.push(name);
        continue;
      }
      const server = moved.get(service);
      if (JSON.stringify(service.spec) !== JSON.stringify(spec)) {
        service.update(spec);
        result.changed.push(name);
      }
      if (server) service.adoptListener(server);
    }
    for (const service of fresh) {
      this.services.set(service.name, service);
      result.added.push(service.name);
    }
    return result;
  }

  setServerState(service: string, server: string, state: ServerState, reason?: string): boolean {
    return this.services.get(service)?.setServerState(server, state, reason) ?? false;
  }

  setWriter(service: string, server: string | null, reason?: string): boolean {
    return this.services.get(service)?.setWriter(server, reason) ?? false;
  }

  /** One step of a planned writer switch on `service`; the number of clients or sessions it touched (0 for an unknown service). */
  writerSwitch(service: string, step: WriterSwitchOp): number {
    return this.services.get(service)?.writerSwitch(step) ?? 0;
  }

  counters(): ServiceCounters[] {
    return [...this.services.values()].map((s) => s.counters());
  }

  activeSessions(): number {
    let n = 0;
    for (const s of this.services.values()) n += s.activeSessions;
    for (const s of this.retired) {
      if (s.activeSessions === 0) this.retired.delete(s);
      else n += s.activeSessions;
    }
    return n;
  }

  /** Stops accepting on every service; sessions go on. */
  async stopListening(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stopListening()));
  }

  /**
   * Graceful stop: no new clients, open sessions may finish for up to
   * `graceMs`, then the rest are closed. Resolves with the number closed.
   */
  async shutdown(graceMs: number, pollMs = 50): Promise<number> {
    await this.stopListening();
    const deadline = performance.now() + graceMs;
    while (this.activeSessions() > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - performance.now()))));
    }
    let closed = 0;
    for (const s of [...this.services.values(), ...this.retired]) closed += s.destroySessions('shutdown');
    return closed;
  }
}
