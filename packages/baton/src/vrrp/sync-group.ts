/**
 * Sync groups (keepalived's vrrp_sync_group): instances that change state
 * together. When one member goes to FAULT (a tracked link or script, its
 * socket), every other member gets the fault `sync:GROUP` and follows it
 * into FAULT, so the peer takes every VIP of the group, not just one; when
 * the member recovers, the others are released together. Likewise for
 * BACKUP: while a member is neither master nor ready to be (a peer with a
 * higher priority is master there), every other member is held out of
 * master (the router's hold `sync:GROUP`: a master steps down, a backup
 * waits), so the group is master on one node only; when every member is
 * master or wants to be, the holds go and the members take over together.
 * This is keepalived's rule "only go master when every member wants to".
 *
 * The rule is pure (syncFaultWanted, groupState) and the coordinator only
 * applies it: after every transition or fault change of a member it reads
 * every member's state and faults, sets or clears `sync:GROUP` where the
 * rule says, and when the group as a whole has reached a new state
 * (all MASTER, all BACKUP, or FAULT) runs the group's notify scripts
 * (`SCRIPT GROUP NAME STATE`, keepalived's convention) through one serial
 * queue, like an instance's.
 *
 * Invariants: a member's own faults are every fault but `sync:GROUP`, so a
 * member never holds the group in FAULT because of the group; the rule is
 * idempotent, so re-evaluating after the transitions it caused changes
 * nothing.
 */
import { createScriptNotifier, type NotifyScript, type ScriptNotifier, type StateChange, type VrrpState } from '@baton/vrrp';
import type { Logger } from '@baton/core';
import type { VrrpSyncGroupConfig } from '../config/types.js';

export interface MemberView {
  name: string;
  state: VrrpState;
  faults: readonly string[];
  /** Held in backup with its Master_Down_Timer fired: it would be master. */
  wantsMaster?: boolean;
  holds?: readonly string[];
}

export const syncFaultOf = (group: string): string => `sync:${group}`;

/** The member's faults that are its own (not the group's). */
export function ownFaults(group: string, m: MemberView): string[] {
  return m.faults.filter((f) => f !== syncFaultOf(group));
}

/** Whether `member` must carry the group's fault: another member is in FAULT on its own account. */
export function syncFaultWanted(group: string, members: readonly MemberView[], member: string): boolean {
  return members.some((m) => m.name !== member && ownFaults(group, m).length > 0);
}

/** Whether `member` must be held out of master: another member is neither master nor wanting to be. */
export function holdWanted(members: readonly MemberView[], member: string): boolean {
  return members.some((m) => m.name !== member && m.state !== 'master' && !m.wantsMaster);
}

/** The group's state: fault if any member is faulted, master or backup when all agree, else undefined (in transition). */
export function groupState(members: readonly MemberView[]): 'master' | 'backup' | 'fault' | undefined {
  if (members.some((m) => m.state === 'fault' || m.faults.length > 0)) return 'fault';
  if (members.length > 0 && members.every((m) => m.state === 'master')) return 'master';
  if (members.length > 0 && members.every((m) => m.state === 'backup')) return 'backup';
  return undefined;
}

/** `SCRIPT GROUP NAME STATE`: what keepalived passes a sync group's notify script. */
export function groupNotifyArgv(script: NotifyScript, change: StateChange): string[] {
  const base = typeof script === 'string' ? [script] : [...script];
  const state = change.to === 'init' ? 'STOP' : change.to.toUpperCase();
  return [...base, 'GROUP', change.instance, state];
}

export interface SyncMember {
  view(): MemberView;
  setFault(reason: string, on: boolean): void;
  setHold(reason: string, on: boolean): void;
}

interface Group {
  config: VrrpSyncGroupConfig;
  state: 'master' | 'backup' | 'fault' | undefined;
  notifier: ScriptNotifier | undefined;
  key: string;
}

export class SyncGroups {
  private groups = new Map<string, Group>();

  constructor(private readonly logger: Logger) {}

  /** Replaces the group set (start and reload); a group whose config is unchanged keeps its state and queue. */
  configure(configs: readonly VrrpSyncGroupConfig[]): void {
    const next = new Map<string, Group>();
    for (const config of configs) {
      const key = JSON.stringify(config);
      const prev = this.groups.get(config.name);
      if (prev && prev.key === key) {
        next.set(config.name, prev);
        continue;
      }
      const byState = { MASTER: config.notifyOn.master, BACKUP: config.notifyOn.backup, FAULT: config.notifyOn.fault, STOP: config.notifyOn.stop };
      const scripts = config.notify.length + Object.values(byState).reduce((n, l) => n + l.length, 0);
      const notifier =
        scripts > 0 ? createScriptNotifier({ scripts: config.notify, byState, argvFor: groupNotifyArgv, logger: this.logger.child({ sync_group: config.name }) }) : undefined;
      next.set(config.name, { config, state: prev?.state, notifier, key });
    }
    this.groups = next;
  }

  /** The groups' names by member (at most one each; config rules). */
  groupOf(member: string): string | undefined {
    for (const g of this.groups.values()) if (g.config.instances.includes(member)) return g.config.name;
    return undefined;
  }

  /** Applies the rule to every group from the members' current views. */
  evaluate(members: ReadonlyMap<string, SyncMember>): void {
    for (const g of this.groups.values()) {
      const present = g.config.instances.map((n) => members.get(n)).filter((m): m is SyncMember => m !== undefined);
      const views = present.map((m) => m.view());
      present.forEach((m, i) => {
        const view = views[i]!;
        const want = syncFaultWanted(g.config.name, views, view.name);
        const has = view.faults.includes(syncFaultOf(g.config.name));
        if (want === has) return;
        const source = views.find((v) => v.name !== view.name && ownFaults(g.config.name, v).length > 0);
        this.logger.info(want ? `sync group ${g.config.name}: ${view.name} follows ${source?.name} into FAULT` : `sync group ${g.config.name}: ${view.name} released`, {
          sync_group: g.config.name,
          instance: view.name,
        });
        m.setFault(syncFaultOf(g.config.name), want);
      });
      // Holds from the views after the faults above: a member the group just put in FAULT is not master.
      const after = present.map((m) => m.view());
      present.forEach((m, i) => {
        const view = after[i]!;
        const reason = syncFaultOf(g.config.name);
        const want = holdWanted(after, view.name);
        if (want === (view.holds ?? []).includes(reason)) return;
        // Only a hold that makes a master step down, or a release that lets a waiting backup take over, is an event worth a line.
        if (want && view.state === 'master') {
          const cause = after.find((v) => v.name !== view.name && v.state !== 'master' && !v.wantsMaster);
          this.logger.info(`sync group ${g.config.name}: ${view.name} follows ${cause?.name} into BACKUP`, { sync_group: g.config.name, instance: view.name });
        } else if (!want && view.wantsMaster) {
          this.logger.info(`sync group ${g.config.name}: every member is ready, ${view.name} takes over`, { sync_group: g.config.name, instance: view.name });
        }
        m.setHold(reason, want);
      });
      const state = groupState(present.map((m) => m.view()));
      if (state === undefined || state === g.state) continue;
      const from = g.state ?? 'init';
      g.state = state;
      this.logger.info(`sync group ${g.config.name} entering ${state.toUpperCase()} state`, { sync_group: g.config.name, from });
      g.notifier?.notify({ instance: g.config.name, from, to: state, reason: 'sync-group', priority: 0, atMs: Date.now() });
    }
  }
}
