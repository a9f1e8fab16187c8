/**
 * Router: the thin imperative shell around the pure state machine. It owns
 * the timers (through the injected Clock), turns received packets into
 * events, and runs the actions `step()` returns through the ports.
 *
 * Invariants:
 * - Every decision is made by `step()`; this file only executes actions, in
 *   the order given, and keeps the one mutable RouterState.
 * - Events are processed one at a time: an event raised while actions run
 *   (a port that calls back synchronously) is queued and handled after.
 * - Nothing here throws at runtime: packet problems become drop reasons,
 *   port rejections are logged. Only the constructor throws, for bad config
 *   (BatonError code 'VRRP_CONFIG').
 * - A transport that reports itself down holds the router in FAULT (reason
 *   TRANSPORT_FAULT) until it reports itself up again: deciding that is the
 *   state machine's fault/recover events, the reopening is the transport's.
 *   An advert counts as sent only when the transport says it was.
 * - VIP changes are issued synchronously, in order; `settled()` waits for
 *   those issued so far. Gratuitous ARP is sent right after `add()` is issued
 *   (the netlink request is already on its way), as keepalived does.
 */
import { BatonError, RateLimiter, describeError, silentLogger, type Clock, type Logger, type TimerHandle } from '@baton/core';
import { advertIntervalMsOf, decodeIpPacket, encodeAdvert, type Advert, type ReceiveChecks } from './codec.js';
import {
  GARP_DELAY_MS_DEFAULT,
  GARP_REPEAT_DEFAULT,
  PRIORITY_OWNER,
  V2_ADVERT_INTERVAL_S_MAX,
  V2_ADVERT_INTERVAL_S_MIN,
  V3_ADVERT_INTERVAL_CS_MAX,
  V3_ADVERT_INTERVAL_CS_MIN,
  VRID_MAX,
  VRID_MIN,
  VRRP_MULTICAST_ADDR,
  type VrrpVersion,
} from './constants.js';
import { parseIpv4, stripPrefix } from './ipv4.js';
import {
  nullNotifier,
  nullStats,
  type AdvertTransport,
  type GarpSender,
  type Notifier,
  type TransportStatus,
  type VipManager,
  type VrrpStats,
} from './ports.js';
import {
  effectivePriority,
  initialState,
  skewTimeMs,
  step,
  type RouterState,
  type StateMachineConfig,
  type VrrpAction,
  type VrrpEvent,
  type VrrpTimer,
} from './state-machine.js';
import type { VrrpState } from './types.js';

/** Adverts kept per source for `baton status --why`. */
const HEARD_SOURCES_MAX = 8;

/** Why the router is in its state: for `baton status --why`. Times are ages in ms at the moment it was taken. */
export interface RouterWhy {
  /** The last advert heard from each source, newest first. */
  adverts: Array<{ from: string; priority: number; ageMs: number; count: number }>;
  /** RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time. */
  masterDown: { intervalMs: number; skewMs: number; totalMs: number; leftMs: number | null };
  /** The reason of the last transition, and how long ago it was. */
  reason: string;
  sinceMs: number;
}

/** Gratuitous ARP timing while master (keepalived's garp_master_* settings). */
export interface GarpConfig {
  /** GARPs per burst (garp_master_repeat); default 5. */
  repeat?: number;
  /** Gap between the GARPs of one burst, ms; default 0 (all at once). */
  intervalMs?: number;
  /** Second burst this long after becoming master (garp_master_delay); default 5000, 0 = none. */
  delayMs?: number;
  /** While master, one GARP round every refreshMs (garp_master_refresh); default 0 = never. */
  refreshMs?: number;
}

/** One VRRP instance (keepalived's vrrp_instance). */
export interface RouterConfig {
  /** Instance name, e.g. VI_1: log field and notify argument. */
  name: string;
  /** virtual_router_id, 1-255. */
  vrid: number;
  /** 1-254, or 255 for the address owner; default 100 (RFC 5798 §5.2.4). */
  priority?: number;
  version: VrrpVersion;
  /** v2: whole seconds 1-255 (in ms: 1000-255000); v3: 10 ms steps, 10-40950 ms. Default 1000. */
  advertIntervalMs?: number;
  /** Default true; false = keepalived's nopreempt. */
  preempt?: boolean;
  /** Default 0. */
  preemptDelayMs?: number;
  /** Our address on the interface: the advert source and the equal-priority tie-break. */
  primaryAddr: string;
  /** Empty or absent: multicast to 224.0.0.18; else unicast to each peer, and only they are heard. */
  unicastPeers?: readonly string[];
  /** "10.0.0.10/24" or "10.0.0.10"; sent in adverts and checked on receive. */
  virtualIps: readonly string[];
  /** v2 simple password (at most 8 bytes are used, as keepalived). */
  authPass?: string;
  /** v3: send the checksum without the IPv4 pseudo-header (keepalived's v3_checksum_as_v2). Both forms are accepted on receive. */
  v3ChecksumAsV2?: boolean;
  garp?: GarpConfig;
}

/** The fault reason while the advert transport is down (transition reason 'fault:transport'). */
export const TRANSPORT_FAULT = 'transport';

export interface RouterOptions {
  config: RouterConfig;
  clock: Clock;
  transport: AdvertTransport;
  vips: VipManager;
  garp: GarpSender;
  notifier?: Notifier;
  stats?: VrrpStats;
  logger?: Logger;
}

function configError(name: string, message: string): BatonError {
  return new BatonError('VRRP_CONFIG', `vrrp ${name}: ${message}`);
}

function validate(c: RouterConfig): void {
  const bad = (m: string) => configError(c.name, m);
  if (!Number.isInteger(c.vrid) || c.vrid < VRID_MIN || c.vrid > VRID_MAX) throw bad(`router_id ${c.vrid} must be ${VRID_MIN}-${VRID_MAX}`);
  const priority = c.priority ?? 100;
  if (!Number.isInteger(priority) || priority < 1 || priority > PRIORITY_OWNER) throw bad(`priority ${priority} must be 1-255`);
  if (c.version !== 2 && c.version !== 3) throw bad(`version ${String(c.version)} must be 2 or 3`);
  const ms = c.advertIntervalMs ?? 1000;
  if (c.version === 2) {
    const s = ms / 1000;
    if (!Number.isInteger(s) || s < V2_ADVERT_INTERVAL_S_MIN || s > V2_ADVERT_INTERVAL_S_MAX) {
      throw bad(`advert_interval ${ms}ms: VRRPv2 needs whole seconds 1-255 (RFC 3768 §5.3.7)`);
    }
  } else {
    const cs = ms / 10;
    if (!Number.isInteger(cs) || cs < V3_ADVERT_INTERVAL_CS_MIN || cs > V3_ADVERT_INTERVAL_CS_MAX) {
      throw bad(`advert_interval ${ms}ms: VRRPv3 needs 10 ms steps, 10ms-40.95s (RFC 5798 §5.2.7)`);
    }
  }
  if ((c.preemptDelayMs ?? 0) < 0 || !Number.isFinite(c.preemptDelayMs ?? 0)) throw bad(`preempt_delay must be >= 0`);
  if (parseIpv4(c.primaryAddr) === undefined) throw bad(`primary address ${c.primaryAddr} is not an IPv4 address`);
  if (c.virtualIps.length === 0 || c.virtualIps.length > 255) throw bad(`needs 1-255 virtual_ips`);
  for (const v of c.virtualIps) if (parseIpv4(stripPrefix(v)) === undefined) throw bad(`virtual_ip ${v} is not an IPv4 address`);
  for (const p of c.unicastPeers ?? []) if (parseIpv4(p) === undefined) throw bad(`unicast peer ${p} is not an IPv4 address`);
  if (c.authPass && c.version === 3) throw bad(`auth_pass is VRRPv2 only (RFC 5798 removed authentication)`);
}

export class Router {
  readonly name: string;
  private readonly cfg: RouterConfig;
  private sm: StateMachineConfig;
  private readonly checks: ReceiveChecks;
  private readonly destinations: readonly string[];
  private readonly vipAddrs: string[];
  private readonly clock: Clock;
  private readonly transport: AdvertTransport;
  private readonly vips: VipManager;
  private readonly garp: GarpSender;
  private readonly notifier: Notifier;
  private readonly stats: VrrpStats;
  private readonly log: Logger;
  private readonly dropLog = new RateLimiter(5, 60_000);
  /** One line per peer per minute: a differing address list repeats with every advert while a config change rolls out. */
  private readonly mismatchLog = new RateLimiter(1, 60_000);
  private garpCfg: Required<GarpConfig>;
  /** Bumped when the GARP refresh period changes: a refresh chain of an older period stops. */
  private refreshGen = 0;

  private s: RouterState;
  private readonly timers = new Map<VrrpTimer, TimerHandle>();
  private readonly garpTimers = new Set<TimerHandle>();
  private pendingVips: Promise<void> = Promise.resolve();
  private readonly queue: VrrpEvent[] = [];
  /** Last accepted advert per source, for why(). */
  private readonly heard = new Map<string, { priority: number; atMs: number; count: number }>();
  /** When the armed master-down timer fires (clock ms), for why(). */
  private masterDownDue: number | null = null;
  private lastReason = { reason: 'not started', atMs: 0 };
  private running = false;
  private readonly unsubscribeTransport: (() => void) | undefined;
  /** Counts a successful send; one function for every advert. */
  private readonly onSent = (sent: boolean): void => {
    if (sent) this.stats.advertSent();
  };

  constructor(options: RouterOptions) {
    const c = options.config;
    validate(c);
    this.cfg = c;
    this.name = c.name;
    this.sm = {
      version: c.version,
      priority: c.priority ?? 100,
      advertIntervalMs: c.advertIntervalMs ?? 1000,
      preempt: c.preempt ?? true,
      preemptDelayMs: c.preemptDelayMs ?? 0,
      primaryAddr: c.primaryAddr,
    };
    const peers = c.unicastPeers ?? [];
    this.destinations = peers.length > 0 ? [...peers] : [VRRP_MULTICAST_ADDR];
    this.vipAddrs = c.virtualIps.map(stripPrefix);
    this.checks = {
      version: c.version,
      vrid: c.vrid,
      ...(c.authPass ? { authPass: c.authPass } : {}),
      ...(c.version === 2 ? { advertIntervalS: this.sm.advertIntervalMs / 1000 } : {}),
      unicastPeers: peers,
      virtualIps: this.vipAddrs,
      ownAddr: c.primaryAddr,
    };
    this.garpCfg = {
      repeat: c.garp?.repeat ?? GARP_REPEAT_DEFAULT,
      intervalMs: c.garp?.intervalMs ?? 0,
      delayMs: c.garp?.delayMs ?? GARP_DELAY_MS_DEFAULT,
      refreshMs: c.garp?.refreshMs ?? 0,
    };
    this.clock = options.clock;
    this.transport = options.transport;
    this.vips = options.vips;
    this.garp = options.garp;
    this.notifier = options.notifier ?? nullNotifier;
    this.stats = options.stats ?? nullStats;
    this.log = (options.logger ?? silentLogger).child({ instance: c.name });
    this.s = initialState(this.sm);
    if (c.authPass && Buffer.byteLength(c.authPass) > 8) this.log.warn('auth_pass longer than 8 bytes; only the first 8 are used');
    // The transport logs its own failure and reopen; the router logs the state change.
    this.unsubscribeTransport = this.transport.onStatus?.((st: TransportStatus) => this.setFault(TRANSPORT_FAULT, !st.up));
  }

  get state(): VrrpState {
    return this.s.state;
  }

  /** Base priority plus tracking weights (1-254), or 255 for the owner. */
  get effectivePriority(): number {
    return effectivePriority(this.sm, this.s);
  }

  /** The current master: ourselves when master, the last heard master when backup, else null. */
  get masterAddr(): string | null {
    return this.s.masterAddr;
  }

  /** Active fault reasons. */
  get faults(): readonly string[] {
    return this.s.faults;
  }

  /** A snapshot of the state machine's state, for status pages and tests. */
  get snapshot(): RouterState {
    return this.s;
  }

  /** Leave init: backup (or master for the owner, or fault while a fault is active). */
  start(): void {
    this.dispatch({ type: 'startup' });
  }

  /**
   * Stop participating: a master sends priority 0 and removes its VIPs
   * (RFC 5798 §6.4.3). Resolves once the VIP removal has settled.
   */
  shutdown(): Promise<void> {
    this.unsubscribeTransport?.();
    this.dispatch({ type: 'shutdown' });
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    this.cancelGarpTimers();
    return this.settled();
  }

  /** Mark a tracked thing failed (`on`) or recovered. While any fault is active the router is in 'fault'. */
  setFault(reason: string, on: boolean): void {
    this.dispatch(on ? { type: 'fault', reason } : { type: 'recover', reason });
  }

  /**
   * Hold the router out of master (`on`) or release it (a sync group).
   * `onWantsMaster` hears when a held backup would take over, and when it no
   * longer would.
   */
  setHold(reason: string, on: boolean): void {
    this.dispatch({ type: 'hold', reason, on });
  }

  /** Set by whoever holds the router; called on every change of `wantsMaster`. */
  onWantsMaster: ((wants: boolean) => void) | undefined;

  /** Held in backup with its Master_Down_Timer fired (see setHold). */
  get wantsMaster(): boolean {
    return this.s.wantsMaster;
  }

  /** Active hold reasons. */
  get holds(): readonly string[] {
    return this.s.holds;
  }

  /** Apply a tracking weight: the effective priority moves by `delta` (kept within 1-254). */
  adjustPriority(delta: number): void {
    this.dispatch({ type: 'priority-change', delta });
  }

  /**
   * The settings a reload changes in place, as keepalived does: preempt mode,
   * preempt delay and GARP timing. No advert, no transition: each takes
   * effect the next time the router reads it. Throws BatonError
   * 'VRRP_CONFIG' (and changes nothing) for a negative delay.
   */
  updateSettings(u: { preempt: boolean; preemptDelayMs: number; garp: GarpConfig }): void {
    if (u.preemptDelayMs < 0 || !Number.isFinite(u.preemptDelayMs)) throw configError(this.name, 'preempt_delay must be >= 0');
    this.sm = { ...this.sm, preempt: u.preempt, preemptDelayMs: u.preemptDelayMs };
    const refreshBefore = this.garpCfg.refreshMs;
    this.garpCfg = {
      repeat: u.garp.repeat ?? GARP_REPEAT_DEFAULT,
      intervalMs: u.garp.intervalMs ?? 0,
      delayMs: u.garp.delayMs ?? GARP_DELAY_MS_DEFAULT,
      refreshMs: u.garp.refreshMs ?? 0,
    };
    if (this.garpCfg.refreshMs !== refreshBefore) {
      this.refreshGen++;
      if (this.s.state === 'master' && this.garpCfg.refreshMs > 0) this.scheduleRefresh();
    }
  }

  /** Resolves when every VIP add/remove issued so far has settled (never rejects). */
  settled(): Promise<void> {
    return this.pendingVips;
  }

  /** One received IPv4 packet, IPv4 header included. Never throws. */
  handlePacket(ipPacket: Uint8Array): void {
    const decoded = decodeIpPacket(ipPacket, this.checks);
    if (!decoded.ok) {
      this.stats.packetDropped(decoded.error);
      const suppressed = this.dropLog.admit(decoded.error, this.clock.now());
      if (suppressed >= 0) {
        const src = ipPacket.length >= 16 ? `${ipPacket[12]}.${ipPacket[13]}.${ipPacket[14]}.${ipPacket[15]}` : undefined;
        this.log.warn('vrrp packet dropped', { reason: decoded.error, src, suppressed: suppressed || undefined });
      }
      return;
    }
    this.stats.advertReceived();
    const { srcAddr, advert, addressMismatch } = decoded.value;
    const prev = this.heard.get(srcAddr);
    this.heard.delete(srcAddr);
    this.heard.set(srcAddr, { priority: advert.priority, atMs: this.clock.now(), count: (prev?.count ?? 0) + 1 });
    if (this.heard.size > HEARD_SOURCES_MAX) this.heard.delete(this.heard.keys().next().value as string);
    if (addressMismatch) {
      // RFC 3768 §7.1, RFC 5798 §7.1: log (rate-limited) and carry on.
      this.stats.addressMismatch();
      const suppressed = this.mismatchLog.admit(srcAddr, this.clock.now());
      if (suppressed >= 0) {
        this.log.warn('vrrp advert lists other virtual ips than ours; processed anyway', {
          src: srcAddr,
          theirs: advert.addresses.join(','),
          ours: this.vipAddrs.join(','),
          suppressed: suppressed || undefined,
        });
      }
    }
    this.dispatch({ type: 'advert', from: srcAddr, priority: advert.priority, advertIntervalMs: advertIntervalMsOf(advert) });
  }

  private dispatch(event: VrrpEvent): void {
    this.queue.push(event);
    if (this.running) return;
    this.running = true;
    try {
      for (let e = this.queue.shift(); e; e = this.queue.shift()) {
        const { next, actions } = step(this.sm, this.s, e, this.clock.now());
        this.s = next;
        for (const a of actions) {
          try {
            this.run(a);
          } catch (err) {
            // A port broke its never-throw contract: log it and carry on with the next action.
            this.log.error('vrrp action failed', { action: a.type, error: describeError(err) });
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  private run(a: VrrpAction): void {
    switch (a.type) {
      case 'arm': {
        if (a.timer === 'master-down') this.masterDownDue = this.clock.now() + a.afterMs;
        this.clock.clearTimeout(this.timers.get(a.timer));
        const timer = a.timer;
        this.timers.set(
          timer,
          this.clock.setTimeout(() => {
            this.timers.delete(timer);
            if (timer === 'master-down') this.masterDownDue = null;
            this.dispatch({ type: 'timer', timer });
          }, a.afterMs),
        );
        return;
      }
      case 'cancel':
        if (a.timer === 'master-down') this.masterDownDue = null;
        this.clock.clearTimeout(this.timers.get(a.timer));
        this.timers.delete(a.timer);
        return;
      case 'send-advert':
        this.sendAdvert(a.priority);
        return;
      case 'add-vips':
        this.changeVips('add');
        return;
      case 'remove-vips':
        this.changeVips('remove');
        return;
      case 'send-garp':
        this.garpBurst(this.garpCfg.repeat);
        return;
      case 'became':
        this.onBecame(a.from, a.to, a.reason);
        return;
      case 'wants-master':
        this.onWantsMaster?.(a.value);
        return;
    }
  }

  private sendAdvert(priority: number): void {
    const base = { vrid: this.cfg.vrid, priority, addresses: this.vipAddrs };
    const advert: Advert =
      this.sm.version === 2
        ? { version: 2, ...base, advertIntervalS: this.sm.advertIntervalMs / 1000, authType: this.cfg.authPass ? 1 : 0 }
        : { version: 3, ...base, maxAdvertIntervalCs: this.sm.advertIntervalMs / 10 };
    for (const dstAddr of this.destinations) {
      const payload = encodeAdvert(advert, {
        srcAddr: this.cfg.primaryAddr,
        dstAddr,
        ...(this.cfg.v3ChecksumAsV2 ? { v3ChecksumAsV2: true } : {}),
        ...(this.cfg.authPass ? { authPass: this.cfg.authPass } : {}),
      });
      this.transport.send(payload, dstAddr, this.onSent);
    }
  }

  private changeVips(op: 'add' | 'remove'): void {
    let p: Promise<void>;
    try {
      p = op === 'add' ? this.vips.add() : this.vips.remove();
    } catch (err) {
      p = Promise.reject(err);
    }
    const logged = p.then(
      () => undefined,
      (err: unknown) => this.log.error(`vrrp ${op} virtual ips failed`, { error: describeError(err) }),
    );
    const before = this.pendingVips;
    this.pendingVips = Promise.all([before, logged]).then(() => undefined);
  }

  /** `count` GARP rounds, `intervalMs` apart (all at once when 0). */
  private garpBurst(count: number): void {
    if (count <= 0) return;
    this.garp.send();
    if (this.garpCfg.intervalMs <= 0) {
      for (let i = 1; i < count; i++) this.garp.send();
      return;
    }
    this.later(this.garpCfg.intervalMs, () => this.garpBurst(count - 1));
  }

  private later(ms: number, fn: () => void): void {
    const handle = this.clock.setTimeout(() => {
      this.garpTimers.delete(handle);
      if (this.s.state === 'master') fn();
    }, ms);
    this.garpTimers.add(handle);
  }

  private cancelGarpTimers(): void {
    for (const t of this.garpTimers) this.clock.clearTimeout(t);
    this.garpTimers.clear();
  }

  private scheduleRefresh(): void {
    const gen = this.refreshGen;
    this.later(this.garpCfg.refreshMs, () => {
      if (gen !== this.refreshGen) return;
      this.garpBurst(1);
      this.scheduleRefresh();
    });
  }

  /** The adverts heard, the master-down arithmetic and the last transition's reason. */
  why(): RouterWhy {
    const now = this.clock.now();
    const priority = this.effectivePriority;
    const interval = this.s.masterAdverIntervalMs;
    const skewMs = skewTimeMs(this.sm.version, priority, interval);
    return {
      adverts: [...this.heard.entries()].reverse().map(([from, h]) => ({ from, priority: h.priority, ageMs: now - h.atMs, count: h.count })),
      masterDown: { intervalMs: interval, skewMs, totalMs: 3 * interval + skewMs, leftMs: this.masterDownDue === null ? null : Math.max(0, this.masterDownDue - now) },
      reason: this.lastReason.reason,
      sinceMs: now - this.lastReason.atMs,
    };
  }

  private onBecame(from: VrrpState, to: VrrpState, reason: string): void {
    this.lastReason = { reason, atMs: this.clock.now() };
    if (from === 'master') this.cancelGarpTimers();
    if (to === 'master') {
      if (this.garpCfg.delayMs > 0) this.later(this.garpCfg.delayMs, () => this.garpBurst(this.garpCfg.repeat));
      if (this.garpCfg.refreshMs > 0) this.scheduleRefresh();
    }
    const priority = this.effectivePriority;
    // The notifier reports the transition (the daemon's is the keepalived-style
    // `entering MASTER state` line); at info this would be a second line for it.
    this.log.debug('vrrp state change', { from, to, reason, priority, master: this.s.masterAddr ?? undefined });
    this.stats.transition(to);
    this.notifier.notify({ instance: this.name, from, to, reason, priority, atMs: this.clock.now() });
  }
}
