/**
 * The VRRP state machine (RFC 3768 §6.4, RFC 5798 §6.4) as one pure function:
 * `step(cfg, state, event, nowMs) -> { next, actions }`.
 *
 * Invariants:
 * - Pure: no I/O, no clock read (time comes in as `nowMs`), never throws,
 *   never mutates its inputs. The same inputs always give the same outputs.
 * - Actions are data, executed in order by the shell (router.ts):
 *   `arm` (re)starts a named timer, replacing one already armed under that
 *   name; `cancel` stops it; `became` is emitted exactly once per state
 *   change, after the actions that make the change, so notifications come
 *   out in the order the changes happened.
 * - Times are milliseconds. Wire units (v2 seconds, v3 centiseconds) are
 *   converted by the codec/router before they reach this module.
 * - States: 'init' (not running), 'backup', 'master', and keepalived's
 *   'fault' (a tracked interface, script or service is down): a router in
 *   fault neither sends nor listens, and a master entering it releases the
 *   VIPs with a priority-0 advert, as a shutdown does.
 * - Holds (keepalived's sync groups): while any hold is set the router may
 *   be backup but not master. A master that gets a hold steps down as if it
 *   shut down (priority 0, VIPs released) into backup; a held backup whose
 *   Master_Down_Timer fires does not take over but records that it wants to
 *   (`wantsMaster`, reported with a `wants-master` action) and waits another
 *   interval; when the last hold goes, a backup that wants master becomes
 *   master at once. A hold never changes the state of a router in init or
 *   fault.
 */
import { PRIORITY_BACKUP_MAX, PRIORITY_BACKUP_MIN, PRIORITY_OWNER, PRIORITY_STOP, type VrrpVersion } from './constants.js';
import { compareIpv4 } from './ipv4.js';
import type { VrrpState } from './types.js';

export type VrrpTimer = 'advert' | 'master-down';

/** The part of a router's configuration the state machine reads. */
export interface StateMachineConfig {
  version: VrrpVersion;
  /** Configured (base) priority, 1-255; 255 = the address owner (RFC 5798 §5.2.4). */
  priority: number;
  /** Advertisement_Interval in ms (v2: a multiple of 1000; v3: of 10). */
  advertIntervalMs: number;
  /** Preempt_Mode (RFC 5798 §6.1); false = keepalived's nopreempt. */
  preempt: boolean;
  /** keepalived's preempt_delay: a lower-priority master is tolerated this long after startup or after it is first heard. 0 = none. */
  preemptDelayMs: number;
  /** Our primary address, the tie-break on equal priority (RFC 5798 §6.4.3). */
  primaryAddr: string;
}

export interface RouterState {
  readonly state: VrrpState;
  /** Sum of tracking weights applied to the base priority. */
  readonly priorityDelta: number;
  /** Active fault reasons, sorted; non-empty => the router is (or will start) in 'fault'. */
  readonly faults: readonly string[];
  /** Master_Adver_Interval (RFC 5798 §6.1): the master's interval as learnt from its adverts (v3), else ours. */
  readonly masterAdverIntervalMs: number;
  /** The master as last heard (ourselves when master); null when unknown. */
  readonly masterAddr: string | null;
  readonly masterPriority: number | null;
  /** Until when (clock ms) a lower-priority master is still accepted (preempt_delay); null = not running. */
  readonly preemptAtMs: number | null;
  /** The last accepted advert was priority 0: the master-down timer runs on Skew_Time. */
  readonly masterReleased: boolean;
  /** Active hold reasons, sorted (a sync group keeping this router out of master). */
  readonly holds: readonly string[];
  /** Held in backup, its Master_Down_Timer has fired: it would be master but for the holds. */
  readonly wantsMaster: boolean;
}

export type VrrpEvent =
  | { type: 'startup' }
  | { type: 'shutdown' }
  /** A tracked thing failed (weight-0 script, interface down, service with no server): enter 'fault' while any is active. */
  | { type: 'fault'; reason: string }
  | { type: 'recover'; reason: string }
  /** A sync group holds this router out of master (`on`) or releases it. */
  | { type: 'hold'; reason: string; on: boolean }
  /** A weighted track script changed state: add `delta` to the effective priority. */
  | { type: 'priority-change'; delta: number }
  | { type: 'timer'; timer: VrrpTimer }
  /** A valid advert (already through every receive check). */
  | { type: 'advert'; from: string; priority: number; advertIntervalMs: number };

export type VrrpAction =
  | { type: 'arm'; timer: VrrpTimer; afterMs: number }
  | { type: 'cancel'; timer: VrrpTimer }
  | { type: 'send-advert'; priority: number }
  | { type: 'add-vips' }
  | { type: 'remove-vips' }
  | { type: 'send-garp' }
  | { type: 'became'; from: VrrpState; to: VrrpState; reason: string }
  /** `wantsMaster` changed (for whoever holds the router). */
  | { type: 'wants-master'; value: boolean };

export interface StepResult {
  next: RouterState;
  actions: VrrpAction[];
}

/** The state before `startup`. */
export function initialState(cfg: StateMachineConfig): RouterState {
  return {
    state: 'init',
    priorityDelta: 0,
    faults: [],
    masterAdverIntervalMs: cfg.advertIntervalMs,
    masterAddr: null,
    masterPriority: null,
    preemptAtMs: null,
    masterReleased: false,
    holds: [],
    wantsMaster: false,
  };
}

/** `s` with wantsMaster set to `value`, plus the action that reports a change. */
function withWants(s: RouterState, value: boolean): { next: RouterState; actions: VrrpAction[] } {
  if (s.wantsMaster === value) return { next: s, actions: [] };
  return { next: { ...s, wantsMaster: value }, actions: [{ type: 'wants-master', value }] };
}

/**
 * Base priority plus tracking weights, kept within 1-254 (keepalived's
 * rule): weights never make a router the owner nor silence it. The owner
 * (255) ignores weights.
 */
export function effectivePriority(cfg: StateMachineConfig, s: RouterState): number {
  if (cfg.priority === PRIORITY_OWNER) return PRIORITY_OWNER;
  return Math.min(PRIORITY_BACKUP_MAX, Math.max(PRIORITY_BACKUP_MIN, cfg.priority + s.priorityDelta));
}

/**
 * Skew_Time in ms. RFC 5798 §6.1: ((256 - Priority) * Master_Adver_Interval) / 256;
 * RFC 3768 §6.1 (v2): (256 - Priority) / 256 seconds, independent of the interval.
 * Exact in binary floating point (a multiple of 1/256 ms).
 */
export function skewTimeMs(version: VrrpVersion, priority: number, masterAdverIntervalMs: number): number {
  const base = version === 2 ? 1000 : masterAdverIntervalMs;
  return ((256 - priority) * base) / 256;
}

/** Master_Down_Interval in ms: 3 * Master_Adver_Interval + Skew_Time (RFC 5798 §6.1, RFC 3768 §6.1). */
export function masterDownIntervalMs(version: VrrpVersion, priority: number, masterAdverIntervalMs: number): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(version, priority, masterAdverIntervalMs);
}

const unchanged = (s: RouterState): StepResult => ({ next: s, actions: [] });

/** Enter master (RFC 5798 §6.4.1 (owner) and §6.4.2 (Master_Down_Timer fired)). */
function toMaster(cfg: StateMachineConfig, s: RouterState, reason: string): StepResult {
  const next: RouterState = {
    ...s,
    state: 'master',
    masterAdverIntervalMs: cfg.advertIntervalMs,
    masterAddr: cfg.primaryAddr,
    masterPriority: null,
    preemptAtMs: null,
    masterReleased: false,
    wantsMaster: false,
  };
  const actions: VrrpAction[] = [];
  if (s.wantsMaster) actions.push({ type: 'wants-master', value: false });
  if (s.state === 'backup') actions.push({ type: 'cancel', timer: 'master-down' });
  actions.push(
    { type: 'add-vips' },
    { type: 'send-advert', priority: effectivePriority(cfg, s) },
    { type: 'send-garp' },
    { type: 'arm', timer: 'advert', afterMs: cfg.advertIntervalMs },
    { type: 'became', from: s.state, to: 'master', reason },
  );
  return { next, actions };
}

/** Enter backup from init or fault (RFC 5798 §6.4.1). */
function toBackupFresh(cfg: StateMachineConfig, s: RouterState, reason: string, nowMs: number): StepResult {
  const next: RouterState = {
    ...s,
    state: 'backup',
    masterAdverIntervalMs: cfg.advertIntervalMs,
    masterAddr: null,
    masterPriority: null,
    // keepalived starts the preempt delay when the router enters backup.
    preemptAtMs: cfg.preemptDelayMs > 0 ? nowMs + cfg.preemptDelayMs : null,
    masterReleased: false,
  };
  const afterMs = masterDownIntervalMs(cfg.version, effectivePriority(cfg, s), cfg.advertIntervalMs);
  return {
    next,
    actions: [
      { type: 'arm', timer: 'master-down', afterMs },
      { type: 'became', from: s.state, to: 'backup', reason },
    ],
  };
}

/** Leave master or backup for init/fault; a master releases with priority 0 (RFC 5798 §6.4.3 Shutdown). */
function toIdle(s: RouterState, to: 'init' | 'fault', reason: string, faults: readonly string[]): StepResult {
  const actions: VrrpAction[] = [];
  if (s.state === 'master') {
    actions.push(
      { type: 'cancel', timer: 'advert' },
      { type: 'send-advert', priority: PRIORITY_STOP },
      { type: 'remove-vips' },
    );
  } else if (s.state === 'backup') {
    actions.push({ type: 'cancel', timer: 'master-down' });
  }
  if (s.wantsMaster) actions.push({ type: 'wants-master', value: false });
  actions.push({ type: 'became', from: s.state, to, reason });
  const next: RouterState = {
    ...s,
    state: to,
    faults,
    masterAddr: null,
    masterPriority: null,
    preemptAtMs: null,
    masterReleased: false,
    wantsMaster: false,
  };
  return { next, actions };
}

function onHold(cfg: StateMachineConfig, s: RouterState, reason: string, on: boolean, nowMs: number): StepResult {
  if (on === s.holds.includes(reason)) return unchanged(s);
  const holds = on ? [...s.holds, reason].sort() : s.holds.filter((h) => h !== reason);
  const recorded: RouterState = { ...s, holds };
  if (on) {
    if (s.state !== 'master') return { next: recorded, actions: [] };
    // Step down as a shutdown does (the peer takes over after Skew_Time), then wait as backup.
    const fresh = toBackupFresh(cfg, recorded, `hold:${reason}`, nowMs);
    return {
      next: fresh.next,
      actions: [{ type: 'cancel', timer: 'advert' }, { type: 'send-advert', priority: PRIORITY_STOP }, { type: 'remove-vips' }, ...fresh.actions],
    };
  }
  if (holds.length === 0 && s.state === 'backup' && s.wantsMaster) return toMaster(cfg, recorded, `released:${reason}`);
  return { next: recorded, actions: [] };
}

function onStartup(cfg: StateMachineConfig, s: RouterState, nowMs: number): StepResult {
  if (s.state !== 'init') return unchanged(s);
  if (s.faults.length > 0) {
    return { next: { ...s, state: 'fault' }, actions: [{ type: 'became', from: 'init', to: 'fault', reason: `fault:${s.faults[0]}` }] };
  }
  // RFC 5798 §6.4.1: the owner goes straight to master; everyone else waits as backup.
  if (cfg.priority === PRIORITY_OWNER) return toMaster(cfg, s, 'address-owner');
  return toBackupFresh(cfg, s, 'startup', nowMs);
}

function onFault(s: RouterState, reason: string): StepResult {
  if (s.faults.includes(reason)) return unchanged(s);
  const faults = [...s.faults, reason].sort();
  if (s.state === 'init' || s.state === 'fault') return { next: { ...s, faults }, actions: [] };
  return toIdle(s, 'fault', `fault:${reason}`, faults);
}

function onRecover(cfg: StateMachineConfig, s: RouterState, reason: string, nowMs: number): StepResult {
  if (!s.faults.includes(reason)) return unchanged(s);
  const faults = s.faults.filter((f) => f !== reason);
  const recorded: RouterState = { ...s, faults };
  if (s.state !== 'fault' || faults.length > 0) return { next: recorded, actions: [] };
  if (cfg.priority === PRIORITY_OWNER) return toMaster(cfg, recorded, 'recover');
  return toBackupFresh(cfg, recorded, 'recover', nowMs);
}

function onPriorityChange(cfg: StateMachineConfig, s: RouterState, delta: number): StepResult {
  if (!Number.isFinite(delta) || delta === 0) return unchanged(s);
  const before = effectivePriority(cfg, s);
  const next: RouterState = { ...s, priorityDelta: s.priorityDelta + delta };
  const after = effectivePriority(cfg, next);
  // A master announces its new priority at once, so backups judge preemption on
  // the current value instead of one interval late; a backup's new priority
  // takes effect in the Skew_Time of its next master-down timer.
  if (s.state === 'master' && after !== before) return { next, actions: [{ type: 'send-advert', priority: after }] };
  return { next, actions: [] };
}

function onTimer(cfg: StateMachineConfig, s: RouterState, timer: VrrpTimer): StepResult {
  if (timer === 'advert') {
    // RFC 5798 §6.4.3: Adver_Timer fired: send an advert, restart the timer.
    if (s.state !== 'master') return unchanged(s);
    return {
      next: s,
      actions: [
        { type: 'send-advert', priority: effectivePriority(cfg, s) },
        { type: 'arm', timer: 'advert', afterMs: cfg.advertIntervalMs },
      ],
    };
  }
  // RFC 5798 §6.4.2: Master_Down_Timer fired: become master.
  if (s.state !== 'backup') return unchanged(s);
  const mine = effectivePriority(cfg, s);
  if (s.holds.length > 0) {
    // Held (sync group): say so and keep waiting, as keepalived re-arms the timer of a member whose group is not ready.
    const w = withWants(s, true);
    return { next: w.next, actions: [...w.actions, { type: 'arm', timer: 'master-down', afterMs: masterDownIntervalMs(cfg.version, mine, s.masterAdverIntervalMs) }] };
  }
  const reason = s.masterReleased
    ? 'master-released'
    : s.masterPriority !== null && s.masterPriority < mine && cfg.preempt
      ? 'preempt'
      : 'master-down-timer';
  return toMaster(cfg, s, reason);
}

function onAdvertInBackup(
  cfg: StateMachineConfig,
  s: RouterState,
  e: { from: string; priority: number; advertIntervalMs: number },
  nowMs: number,
): StepResult {
  const mine = effectivePriority(cfg, s);
  // RFC 5798 §6.4.2: priority 0 = the master is leaving; take over after Skew_Time.
  if (e.priority === PRIORITY_STOP) {
    return {
      next: { ...s, masterAddr: e.from, masterPriority: e.priority, masterReleased: true },
      actions: [{ type: 'arm', timer: 'master-down', afterMs: skewTimeMs(cfg.version, mine, s.masterAdverIntervalMs) }],
    };
  }
  const delaying = cfg.preemptDelayMs > 0 && (s.preemptAtMs === null || nowMs < s.preemptAtMs);
  if (!cfg.preempt || e.priority >= mine || delaying) {
    // RFC 5798 §6.4.2: accept this master; v3 adopts its interval (Master_Adver_Interval),
    // v2 intervals are equal (a different one was dropped by the codec, RFC 3768 §7.1).
    const masterAdverIntervalMs = cfg.version === 3 ? e.advertIntervalMs : s.masterAdverIntervalMs;
    let preemptAtMs = s.preemptAtMs;
    if (cfg.preemptDelayMs > 0) {
      if (e.priority >= mine) preemptAtMs = null;
      else if (preemptAtMs === null) preemptAtMs = nowMs + cfg.preemptDelayMs;
    }
    // A master we accept is heard: a held backup no longer wants to take over.
    const w = withWants({ ...s, masterAdverIntervalMs, masterAddr: e.from, masterPriority: e.priority, preemptAtMs, masterReleased: false }, false);
    return {
      next: w.next,
      actions: [...w.actions, { type: 'arm', timer: 'master-down', afterMs: masterDownIntervalMs(cfg.version, mine, masterAdverIntervalMs) }],
    };
  }
  // Preempt: discard the lower-priority advert; the running master-down timer
  // will fire and this router takes over (RFC 5798 §6.4.2 "Discard the ADVERTISEMENT").
  return { next: { ...s, masterAddr: e.from, masterPriority: e.priority, masterReleased: false }, actions: [] };
}

function onAdvertInMaster(cfg: StateMachineConfig, s: RouterState, e: { from: string; priority: number; advertIntervalMs: number }): StepResult {
  const mine = effectivePriority(cfg, s);
  // RFC 5798 §6.4.3: another router is leaving: advertise at once and restart the timer.
  if (e.priority === PRIORITY_STOP) {
    return {
      next: s,
      actions: [
        { type: 'send-advert', priority: mine },
        { type: 'arm', timer: 'advert', afterMs: cfg.advertIntervalMs },
      ],
    };
  }
  const higher = e.priority > mine;
  if (higher || (e.priority === mine && compareIpv4(e.from, cfg.primaryAddr) > 0)) {
    // RFC 5798 §6.4.3: a better master exists: step down to backup.
    const masterAdverIntervalMs = cfg.version === 3 ? e.advertIntervalMs : cfg.advertIntervalMs;
    const next: RouterState = {
      ...s,
      state: 'backup',
      masterAdverIntervalMs,
      masterAddr: e.from,
      masterPriority: e.priority,
      preemptAtMs: null,
      masterReleased: false,
    };
    return {
      next,
      actions: [
        { type: 'cancel', timer: 'advert' },
        { type: 'remove-vips' },
        { type: 'arm', timer: 'master-down', afterMs: masterDownIntervalMs(cfg.version, mine, masterAdverIntervalMs) },
        { type: 'became', from: 'master', to: 'backup', reason: higher ? 'higher-priority-advert' : 'equal-priority-higher-address' },
      ],
    };
  }
  // A lower-priority master (e.g. after a split brain heals). The RFC discards
  // it; keepalived answers at once with an advert so the other side steps down
  // without waiting an interval, and refreshes ARP caches the other side may
  // have pointed at itself.
  return { next: s, actions: [{ type: 'send-advert', priority: mine }, { type: 'send-garp' }] };
}

/** One transition. See the module comment for the contract. */
export function step(cfg: StateMachineConfig, s: RouterState, e: VrrpEvent, nowMs: number): StepResult {
  switch (e.type) {
    case 'startup':
      return onStartup(cfg, s, nowMs);
    case 'shutdown':
      return s.state === 'init' ? unchanged(s) : toIdle(s, 'init', 'shutdown', s.faults);
    case 'fault':
      return onFault(s, e.reason);
    case 'recover':
      return onRecover(cfg, s, e.reason, nowMs);
    case 'hold':
      return onHold(cfg, s, e.reason, e.on, nowMs);
    case 'priority-change':
      return onPriorityChange(cfg, s, e.delta);
    case 'timer':
      return onTimer(cfg, s, e.timer);
    case 'advert':
      if (s.state === 'backup') return onAdvertInBackup(cfg, s, e, nowMs);
      if (s.state === 'master') return onAdvertInMaster(cfg, s, e);
      return unchanged(s); // init and fault do not listen (RFC 5798 §6.4.1; keepalived FAULT)
    default:
      return unchanged(s);
  }
}
