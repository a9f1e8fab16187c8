/**
 * Health checks in the daemon: one HealthScheduler per service with a
 * `health:` section, its results driving the control plane (server states,
 * and Galera indexes for `writer.pick: galera-index`).
 *
 * Invariants:
 * - A reload that leaves a service's health section and server addresses
 *   unchanged leaves its scheduler running, so states and counters persist.
 * - A restarted scheduler starts each server in the state the control plane
 *   holds for it, so a server that was up stays up until its checks say
 *   otherwise (and a down one stays down until `rise` successes).
 * - Probes get the password from the environment variable `password_env`
 *   names, read at (re)start; it is never logged.
 */
import type { Logger } from '@baton/core';
import { createProbe, HealthScheduler, type CheckResult, type ServerHealth } from '@baton/health';
import type { BatonConfig, ServiceConfig } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { Subsystem, SubsystemContext } from '../subsystem.js';

interface Running {
  key: string;
  scheduler: HealthScheduler;
}

function serviceKey(svc: ServiceConfig): string {
  return JSON.stringify({ health: svc.health, servers: svc.servers.map((s) => [s.name, s.address]) });
}

export interface HealthHooks {
  /** Every completed check (for the duration histogram). */
  onCheck?(service: string, server: string, result: CheckResult): void;
}

export class HealthSubsystem implements Subsystem {
  readonly name = 'health';
  private readonly running = new Map<string, Running>();
  private readonly logger: Logger;
  private readonly control: ControlPlane;
  /** The last result per service and server, for the admin API. */
  private readonly last = new Map<string, CheckResult>();
  /** The scheduler's view after the last result, for `baton status --why`. */
  private readonly health = new Map<string, ServerHealth & { rise: number; fall: number }>();

  constructor(
    context: SubsystemContext,
    private readonly hooks: HealthHooks = {},
  ) {
    this.logger = context.logger.child({ subsystem: 'health' });
    this.control = context.control;
  }

  lastCheck(service: string, server: string): CheckResult | undefined {
    return this.last.get(`${service}\0${server}`);
  }

  /** The rise/fall counter and since when the state holds (sinceMs on performance.now()). */
  healthView(service: string, server: string): (ServerHealth & { rise: number; fall: number }) | undefined {
    return this.health.get(`${service}\0${server}`);
  }

  async start(config: BatonConfig): Promise<void> {
    await this.apply(config);
  }

  async reload(config: BatonConfig): Promise<void> {
    await this.apply(config);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.scheduler.stop()));
    this.running.clear();
  }

  private async apply(config: BatonConfig): Promise<void> {
    const wanted = new Map(config.services.filter((s) => s.health).map((s) => [s.name, s]));
    for (const [name, running] of this.running) {
      const svc = wanted.get(name);
      if (!svc || serviceKey(svc) !== running.key) {
        this.running.delete(name);
        await running.scheduler.stop();
        for (const k of [...this.last.keys()]) if (k.startsWith(`${name}\0`)) this.last.delete(k);
        for (const k of [...this.health.keys()]) if (k.startsWith(`${name}\0`)) this.health.delete(k);
      }
    }
    for (const svc of wanted.values()) {
      if (this.running.has(svc.name)) continue;
      this.running.set(svc.name, { key: serviceKey(svc), scheduler: this.startService(svc) });
    }
  }

  private startService(svc: ServiceConfig): HealthScheduler {
    const h = svc.health!;
    const password = h.passwordEnv ? process.env[h.passwordEnv] : undefined;
    const servers = svc.servers.map((server) => {
      const current = this.control.status(svc.name, server.name);
      return {
        name: server.name,
        probe: createProbe({ ...h, password }, server.address),
        timing: { intervalMs: h.intervalMs, timeoutMs: h.timeoutMs, rise: h.rise, fall: h.fall, initial: current?.health ?? h.initial },
      };
    });
    const logger = this.logger.child({ service: svc.name });
    const galera = h.check === 'galera';
    const scheduler = new HealthScheduler({
      servers,
      logger,
      onChange: (change) => {
        // The scheduler has logged the verdict; the control plane logs the resulting state.
        const reason = change.label === 'ok' ? 'check passed' : `${change.label}: ${change.detail}`;
        this.control.setHealth(svc.name, change.server, change.to === 'up', reason, change.result.info?.galeraIndex);
      },
      onResult: (server, result, health) => {
        this.last.set(`${svc.name}\0${server}`, result);
        this.health.set(`${svc.name}\0${server}`, { ...health, rise: h.rise, fall: h.fall });
        // A verdict: up, or a failure (a success short of rise is not one yet).
        if (!result.ok || health.state === 'up') this.control.markChecked(svc.name, server);
        this.hooks.onCheck?.(svc.name, server, result);
        // Galera indexes move when nodes join or leave without any up/down change.
        if (galera && result.ok) this.control.setHealth(svc.name, server, health.state === 'up', 'check passed', result.info?.galeraIndex);
      },
    });
    scheduler.start();
    logger.info('health checks started', { check: h.check, servers: servers.length, interval_ms: h.intervalMs });
    return scheduler;
  }
}
