/**
 * The VRRP subsystem: one VrrpInstance per `vrrp:` entry, started with the
 * daemon, diffed on reload, shut down before the data plane drains.
 *
 * Invariants:
 * - Without a `vrrp:` section it does nothing at all (no socket, no handler).
 * - Reload compares each instance's normalised config (and its resolved
 *   password): an unchanged instance is not touched, so a master stays
 *   master with no transition; a changed one is stopped (priority 0 when
 *   master) and started again; a removed one is stopped.
 * - stop() shuts every router down in parallel and resolves only when each
 *   has sent its priority-0 advert and removed its VIPs; the daemon drains
 *   the data plane after that.
 * - SIGUSR2 logs one `vrrp stats` line per instance; stop() logs it too.
 */
import { describeError } from '@baton/core';
import type { BatonConfig, VrrpInstanceConfig } from '../config/types.js';
import type { Subsystem, SubsystemContext } from '../subsystem.js';
import { VrrpInstance, resolveAuthPass, type InstanceSnapshot } from './instance.js';

/** What decides whether a reload must restart an instance. */
function fingerprint(cfg: VrrpInstanceConfig): string {
  let pass: string | undefined;
  try {
    pass = resolveAuthPass(cfg);
  } catch {
    pass = undefined;
  }
  return JSON.stringify({ cfg, pass });
}

export class VrrpSubsystem implements Subsystem {
  readonly name = 'vrrp';
  private readonly instances = new Map<string, { instance: VrrpInstance; fingerprint: string }>();
  private readonly onUsr2 = () => this.logStats();
  private signalInstalled = false;

  constructor(private readonly context: SubsystemContext) {}

  async start(config: BatonConfig): Promise<void> {
    for (const cfg of config.vrrp) await this.startInstance(cfg, config);
    this.installSignal();
  }

  async reload(config: BatonConfig): Promise<void> {
    const wanted = new Map(config.vrrp.map((c) => [c.name, c]));
    for (const [name, entry] of [...this.instances]) {
      const next = wanted.get(name);
      if (next && fingerprint(next) === entry.fingerprint) continue;
      this.context.logger.info(next ? 'vrrp instance changed, restarting' : 'vrrp instance removed', { instance: name });
      this.instances.delete(name);
      await entry.instance.stop();
    }
    for (const cfg of config.vrrp) if (!this.instances.has(cfg.name)) await this.startInstance(cfg, config);
    this.installSignal();
  }

  async stop(): Promise<void> {
    if (this.signalInstalled) process.off('SIGUSR2', this.onUsr2);
    this.signalInstalled = false;
    const all = [...this.instances.values()].map((e) => e.instance);
    this.instances.clear();
    await Promise.all(
      all.map((i) =>
        i.stop().then(
          () => i.logStats(),
          (err: unknown) => this.context.logger.error('vrrp instance stop failed', { instance: i.name, error: describeError(err) }),
        ),
      ),
    );
  }

  /** For the admin API: one entry per instance, in config order. */
  snapshot(): InstanceSnapshot[] {
    return [...this.instances.values()].map((e) => e.instance.snapshot());
  }

  logStats(): void {
    for (const e of this.instances.values()) e.instance.logStats();
  }

  private installSignal(): void {
    if (this.signalInstalled || this.instances.size === 0) return;
    process.on('SIGUSR2', this.onUsr2);
    this.signalInstalled = true;
  }

  private async startInstance(cfg: VrrpInstanceConfig, config: BatonConfig): Promise<void> {
    const { control, logger } = this.context;
    const siblings = new Set(config.vrrp.filter((o) => o.interface === cfg.interface && o.name !== cfg.name).map((o) => o.routerId));
    const instance = new VrrpInstance(cfg, {
      logger,
      servicesWithoutUpServer: () => control.servicesWithoutUpServer(),
      subscribeControl: (listener) => control.subscribe(() => listener()),
      siblingVrids: () => siblings,
    });
    await instance.start();
    this.instances.set(cfg.name, { instance, fingerprint: fingerprint(cfg) });
  }
}
