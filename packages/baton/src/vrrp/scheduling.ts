/**
 * The VRRP child's real-time scheduling and locked memory (config key
 * `vrrp_scheduling`), set by the child on itself through the small addon in
 * native/vrrp_scheduling.c: SCHED_RR for the thread that runs the routers,
 * so an advert leaves on time with every CPU busy, and mlockall so none of
 * its pages waits on swap (keepalived's vrrp_rt_priority, vrrp_no_swap).
 *
 * Invariants:
 * - Never throws: a missing addon or a refused syscall (not root, no
 *   CAP_SYS_NICE / CAP_IPC_LOCK, a container's limits) is one warning line
 *   naming what was refused, and the child runs on with normal scheduling.
 * - Applied again only when the wanted setting changes (on reload), so a
 *   refusal is not logged again on every reload.
 * - Locked memory is unlocked before the child exits: V8 releases its code
 *   pages at teardown with madvise(MADV_DONTNEED), which Linux refuses on
 *   locked pages, and V8 treats that refusal as fatal (a crash report
 *   instead of a clean exit). The same release could happen mid-run, which
 *   is why lock_memory is off by default (see docs/config.md).
 */
import { createRequire } from 'node:module';
import type { Logger } from '@baton/core';
import type { VrrpScheduling } from '../config/types.js';

type Outcome = { ok: true } | { ok: false; code: string; message: string };
interface SchedulingAddon {
  setRealtime(priority: number): Outcome;
  lockMemory(on: boolean): Outcome;
}

export const DEFAULT_SCHEDULING: VrrpScheduling = { realtimePriority: 10, lockMemory: false };

let addon: SchedulingAddon | Outcome | undefined;
function load(): SchedulingAddon | Outcome {
  try {
    addon ??= createRequire(import.meta.url)('../../../build/Release/vrrp_scheduling.node') as SchedulingAddon;
  } catch (err) {
    addon = { ok: false, code: 'ENOENT', message: `the vrrp_scheduling addon is not built: ${(err as Error).message}` };
  }
  return addon;
}

export class SchedulingState {
  private priority: number | undefined;
  private locked: boolean | undefined;

  constructor(private readonly logger: Logger) {}

  apply(wanted: VrrpScheduling = DEFAULT_SCHEDULING): void {
    const native = load();
    const refused: { setting: string; r: Outcome & { ok: false } }[] = [];
    const fail = (setting: string, r: Outcome & { ok: false }) => refused.push({ setting, r });
    if (wanted.realtimePriority !== this.priority) {
      // From 0 at the start nothing needs undoing.
      if (wanted.realtimePriority > 0 || this.priority !== undefined) {
        const r: Outcome = 'setRealtime' in native ? native.setRealtime(wanted.realtimePriority) : native;
        if (r.ok) this.logger.info('vrrp scheduling', { policy: wanted.realtimePriority > 0 ? 'SCHED_RR' : 'SCHED_OTHER', priority: wanted.realtimePriority, pid: process.pid });
        else fail('realtime_priority', r);
      }
      this.priority = wanted.realtimePriority;
    }
    if (wanted.lockMemory !== this.locked) {
      if (wanted.lockMemory || this.locked !== undefined) {
        const r: Outcome = 'lockMemory' in native ? native.lockMemory(wanted.lockMemory) : native;
        if (r.ok) this.logger.info('vrrp memory', { locked: wanted.lockMemory, pid: process.pid });
        else fail('lock_memory', r);
      }
      this.locked = wanted.lockMemory;
    }
    if (refused.length > 0) {
      // What failed is not in force: a later release must not try to undo it.
      if (refused.some((f) => f.setting === 'lock_memory')) this.locked = false;
      this.logger.warn('vrrp scheduling not applied, running without it', {
        settings: refused.map((f) => f.setting).join(','),
        code: refused.map((f) => f.r.code).join(','),
        error: refused.map((f) => f.r.message).join('; '),
        hint: 'needs root (CAP_SYS_NICE, CAP_IPC_LOCK)',
      });
    }
  }

  /** Unlocks memory before the process exits (see the module's invariants). */
  release(): void {
    if (!this.locked) return;
    const native = load();
    if ('lockMemory' in native) native.lockMemory(false);
    this.locked = false;
  }
}
