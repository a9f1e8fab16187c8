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
 *   names; it is never logged. A variable that is not set is an error at
 *   start and rejects a reload (prepare), before any scheduler changes.
 * - The control plane hears every state change, and every settled verdict
 *   (up with a passing check, or down with the rise count at zero), so a
 *   first writer pick that waits for every server's verdict is not held up
 *   by a server that stays down.
 * - A first writer pick that waits for verdicts waits at most
 *   (rise + 1) × interval + timeout from the start of the checks (every
 *   server's first check starts within one interval, and `rise` passing
 *   checks follow); then it picks from what it has, and that is logged.
 */
import { BatonError, realClock, type Logger, type TimerHandle } from '@baton/core';
import { createProbe, HealthScheduler, type CheckResult } from '@baton/health';
import type { BatonConfig, ServiceConfig } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { PreparedReload, ReloadFields, Subsystem, SubsystemContext } from '../subsystem.js';

interface Running {
  key: string;
  scheduler: HealthScheduler;
}

/** Each health-checked service's password (undefined without password_env); throws for an unset variable. */
function resolvePasswords(config: BatonConfig): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const svc of config.services) {
    const env = svc.health?.passwordEnv;
    if (!svc.health) continue;
    if (env === undefined) {
      out.set(svc.name, undefined);
      continue;
    }
    const value = process.env[env];
    if (value === undefined || value === '') throw new BatonError('config-invalid', `service ${svc.name}: health.password_env ${env} is not set`);
    out.set(svc.name, value);
  }
  return out;
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
  /** Per service: the timer that ends the first writer pick's wait for verdicts. */
  private readonly verdictWaits = new Map<string, TimerHandle>();

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

  async start(config: BatonConfig): Promise<void> {
    await this.apply(config, resolvePasswords(config));
  }

  prepare(config: BatonConfig): Promise<PreparedReload> {
    const passwords = resolvePasswords(config);
    return Promise.resolve({
      commit: async (): Promise<ReloadFields> => {
        const restarted = await this.apply(config, passwords);
        return restarted.length > 0 ? { health_restarted: restarted.join(',') } : {};
      },
      abort: () => Promise.resolve(),
    });
  }

  async stop(): Promise<void> {
    for (const t of this.verdictWaits.values()) realClock.clearTimeout(t);
    this.verdictWaits.clear();
    await Promise.all([...this.running.values()].map((r) => r.scheduler.stop()));
    this.running.clear();
  }

  /** Stops the schedulers whose service changed or went, starts the new ones; resolves with the names started. */
  private async apply(config: BatonConfig, passwords: ReadonlyMap<string, string | undefined>): Promise<string[]> {
    const wanted = new Map(config.services.filter((s) => s.health).map((s) => [s.name, s]));
    for (const [name, running] of this.running) {
      const svc = wanted.get(name);
      if (!svc || serviceKey(svc) !== running.key) {
        this.running.delete(name);
        realClock.clearTimeout(this.verdictWaits.get(name));
        this.verdictWaits.delete(name);
        await running.scheduler.stop();
        for (const k of [...this.last.keys()]) if (k.startsWith(`${name}\0`)) this.last.delete(k);
      }
    }
    const started: string[] = [];
    for (const svc of wanted.values()) {
      if (this.running.has(svc.name)) continue;
      this.running.set(svc.name, { key: serviceKey(svc), scheduler: this.startService(svc, passwords.get(svc.name)) });
      started.push(svc.name);
    }
    return started;
  }

  private startService(svc: ServiceConfig, password: string | undefined): HealthScheduler {
    const h = svc.health!;
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
        this.hooks.onCheck?.(svc.name, server, result);
        // A settled verdict. Galera indexes move when nodes join or leave without any up/down change.
        const settled = health.state === 'up' ? galera && result.ok : health.counter === 0;
        if (settled) {
          const reason = result.ok ? 'check passed' : `${result.reason}: ${result.detail}`;
          this.control.setHealth(svc.name, server, health.state === 'up', reason, result.info?.galeraIndex);
        }
      },
    });
    scheduler.start();
    logger.info('health checks started', { check: h.check, servers: servers.length, interval_ms: h.intervalMs });
    if (this.control.awaitingVerdicts(svc.name)) {
      const waitMs = (h.rise + 1) * h.intervalMs + h.timeoutMs;
      realClock.clearTimeout(this.verdictWaits.get(svc.name));
      this.verdictWaits.set(
        svc.name,
        realClock.setTimeout(() => {
          this.verdictWaits.delete(svc.name);
          const missing = this.control.awaitingVerdicts(svc.name);
          if (!missing) return;
          this.control.endVerdictWait(svc.name, `no verdict from ${missing.join(',')} within ${waitMs} ms`);
          if (missing.length > 0) {
            logger.warn('writer picked without every verdict', { waited_ms: waitMs, no_verdict: missing.join(','), writer: this.control.writer(svc.name) ?? 'none' });
          }
        }, waitMs),
      );
    }
    return scheduler;
  }
}
