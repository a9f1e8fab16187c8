/**
 * The VRRP instances of one process, as the child runs them: it diffs each
 * wanted set against what runs (diff.ts: an unchanged instance is not
 * touched, a changed one is updated in place unless the change needs a
 * restart, so a master stays master), feeds the tracked services' status the
 * daemon sends to the instances that track them, and reports snapshots.
 *
 * Invariants:
 * - Each kept instance a reload changes gets one log line saying whether it
 *   was restarted or updated in place, and which settings made it so.
 * - apply() runs one at a time (queued), so a reload never overlaps a start.
 * - stop() shuts every router down in parallel (priority 0, VIPs removed)
 *   and logs each instance's stats; it is idempotent and waits for the
 *   apply() calls queued before it; later ones are refused.
 */
import { BatonError, describeError, type Logger } from '@baton/core';
import { describeDiff, diffInstance } from './diff.js';
import { VrrpInstance, type InstanceSnapshot } from './instance.js';
import type { ApplySummary, InstanceSpec } from './ipc.js';
import { SyncGroups, type SyncMember } from './sync-group.js';
import type { VrrpSyncGroupConfig } from '../config/types.js';

interface Entry {
  instance: VrrpInstance;
  spec: InstanceSpec;
  /** The sibling VRIDs the instance reads; updated in place on reload. */
  siblings: Set<number>;
}

export class InstanceHost {
  private readonly instances = new Map<string, Entry>();
  private servicesDown: string[] = [];
  private readonly serviceListeners = new Set<() => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private readonly sync: SyncGroups;

  constructor(
    private readonly logger: Logger,
    private readonly onChange: () => void,
  ) {
    this.sync = new SyncGroups(logger);
  }

  /** Re-applies the sync-group rule from every member's current state (after any member's transition or fault change). */
  private evaluateSync(): void {
    if (this.stopping) return;
    const members = new Map<string, SyncMember>();
    for (const [name, e] of this.instances) {
      members.set(name, {
        view: () => ({ name, ...e.instance.syncView() }),
        setFault: (reason, on) => e.instance.setExternalFault(reason, on),
        setHold: (reason, on) => e.instance.setExternalHold(reason, on),
      });
    }
    this.sync.evaluate(members);
  }

  setServicesDown(down: string[]): void {
    this.servicesDown = down;
    for (const l of [...this.serviceListeners]) l();
  }

  apply(specs: InstanceSpec[]): Promise<ApplySummary> {
    // An apply queued before stop() still runs first: its start removes VIPs a crashed predecessor left.
    if (this.stopping) return Promise.reject(new BatonError('vrrp-stopping', 'vrrp is shutting down'));
    const run = this.queue.then(() => this.applyNow(specs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(specs: InstanceSpec[]): Promise<ApplySummary> {
    const summary: ApplySummary = { added: [], removed: [], restarted: [], updated: [] };
    const groups = new Map<string, VrrpSyncGroupConfig>();
    for (const s of specs) if (s.syncGroup) groups.set(s.syncGroup.name, s.syncGroup);
    this.sync.configure([...groups.values()]);
    const wanted = new Map(specs.map((s) => [s.config.name, s]));
    for (const [name, entry] of [...this.instances]) {
      const next = wanted.get(name);
      if (!next) {
        this.logger.info(`vrrp instance ${name} removed`, { instance: name });
        summary.removed.push(name);
        this.instances.delete(name);
        await entry.instance.stop();
        continue;
      }
      const diff = diffInstance(entry.spec, next);
      const line = describeDiff(name, diff);
      entry.siblings.clear();
      for (const v of next.siblings) entry.siblings.add(v);
      if (diff.restart.length > 0) {
        this.logger.info(line!, { instance: name, changed: diff.restart.join(',') });
        summary.restarted.push(name);
        this.instances.delete(name);
        await entry.instance.stop();
      } else if (diff.update.length > 0) {
        try {
          await entry.instance.update(next.config);
        } catch (err) {
          // Only opening the new link watch can fail, before anything changed: the instance runs as before.
          this.logger.error(`vrrp instance ${name} not updated, running settings kept`, { instance: name, error: describeError(err) });
          continue;
        }
        entry.spec = next;
        this.logger.info(line!, { instance: name, changed: diff.update.join(',') });
        summary.updated.push(name);
      } else {
        entry.spec = next;
      }
    }
    try {
      for (const spec of specs) {
        if (this.instances.has(spec.config.name)) continue;
        await this.startInstance(spec);
        if (!summary.restarted.includes(spec.config.name)) summary.added.push(spec.config.name);
      }
    } finally {
      this.evaluateSync();
      this.onChange();
    }
    return summary;
  }

  private async startInstance(spec: InstanceSpec): Promise<void> {
    const siblings = new Set(spec.siblings);
    const instance = new VrrpInstance(spec.config, {
      logger: this.logger,
      servicesWithoutUpServer: () => this.servicesDown,
      subscribeControl: (listener) => {
        this.serviceListeners.add(listener);
        return () => this.serviceListeners.delete(listener);
      },
      siblingVrids: () => siblings,
      authPass: spec.authPass,
      onStateChange: () => {
        this.evaluateSync();
        this.onChange();
      },
      onFaultsChanged: () => setImmediate(() => this.evaluateSync()),
    });
    await instance.start();
    this.instances.set(spec.config.name, { instance, spec, siblings });
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
