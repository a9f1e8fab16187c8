/**
 * The VRRP instances of one process, as the child runs them: it diffs each
 * wanted set against what runs (an unchanged instance is not touched, so a
 * master stays master), feeds the tracked services' status the daemon sends
 * to the instances that track them, and reports snapshots.
 *
 * Invariants:
 * - apply() runs one at a time (queued), so a reload never overlaps a start.
 * - stop() shuts every router down in parallel (priority 0, VIPs removed)
 *   and logs each instance's stats; it is idempotent and waits for the
 *   apply() calls queued before it; later ones are refused.
 */
import { BatonError, describeError, type Logger } from '@baton/core';
import { VrrpInstance, type InstanceSnapshot } from './instance.js';
import type { InstanceSpec } from './ipc.js';

function fingerprint(spec: InstanceSpec): string {
  return JSON.stringify({ cfg: spec.config, pass: spec.authPass });
}

export class InstanceHost {
  private readonly instances = new Map<string, { instance: VrrpInstance; fingerprint: string }>();
  private servicesDown: string[] = [];
  private readonly serviceListeners = new Set<() => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly onChange: () => void,
  ) {}

  setServicesDown(down: string[]): void {
    this.servicesDown = down;
    for (const l of [...this.serviceListeners]) l();
  }

  apply(specs: InstanceSpec[]): Promise<void> {
    // An apply queued before stop() still runs first: its start removes VIPs a crashed predecessor left.
    if (this.stopping) return Promise.reject(new BatonError('vrrp-stopping', 'vrrp is shutting down'));
    const run = this.queue.then(() => this.applyNow(specs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(specs: InstanceSpec[]): Promise<void> {
    const wanted = new Map(specs.map((s) => [s.config.name, s]));
    for (const [name, entry] of [...this.instances]) {
      const next = wanted.get(name);
      if (next && fingerprint(next) === entry.fingerprint) continue;
      this.logger.info(next ? 'vrrp instance changed, restarting' : 'vrrp instance removed', { instance: name });
      this.instances.delete(name);
      await entry.instance.stop();
    }
    try {
      for (const spec of specs) if (!this.instances.has(spec.config.name)) await this.startInstance(spec);
    } finally {
      this.onChange();
    }
  }

  private async startInstance(spec: InstanceSpec): Promise<void> {
    const siblings: ReadonlySet<number> = new Set(spec.siblings);
    const instance = new VrrpInstance(spec.config, {
      logger: this.logger,
      servicesWithoutUpServer: () => this.servicesDown,
      subscribeControl: (listener) => {
        this.serviceListeners.add(listener);
        return () => this.serviceListeners.delete(listener);
      },
      siblingVrids: () => siblings,
      authPass: spec.authPass,
      onStateChange: () => this.onChange(),
    });
    await instance.start();
    this.instances.set(spec.config.name, { instance, fingerprint: fingerprint(spec) });
  }

  snapshot(): InstanceSnapshot[] {
    return [...this.instances.values()].map((e) => e.instance.snapshot());
  }

  logStats(): void {
    for (const e of this.instances.values()) e.instance.logStats();
  }

  stop(): Promise<void> {
    this.stopping ??= this.queue.then(async () => {
      const all = [...this.instances.values()].map((e) => e.instance);
      this.instances.clear();
      await Promise.all(
        all.map((i) =>
          i.stop().then(
            () => i.logStats(),
            (err: unknown) => this.logger.error('vrrp instance stop failed', { instance: i.name, error: describeError(err) }),
          ),
        ),
      );
    });
    return this.stopping;
  }
}
