/**
 * One running VRRP instance (a `vrrp:` entry): the Linux adapters of
 * @baton/vrrp wired around a Router on the real clock, plus its tracking
 * (interfaces, scripts, services) and counters.
 *
 * Start order matters and is fixed:
 * 1. VIPs left on the interface by a crashed predecessor are removed before
 *    anything else: a node that starts as backup must not answer for the VIP.
 * 2. Transport, GARP sender and notifier are opened; a failure closes what
 *    was opened and rejects (a deployment error, reported at start).
 * 3. Tracking is armed and its current state applied as faults BEFORE the
 *    router starts, so a node whose tracked link is down starts in FAULT
 *    instead of flapping through BACKUP.
 * 4. Only then the packet handler is wired and the router started.
 *
 * Invariants:
 * - `stop()` sends priority 0 when master and removes the VIPs (through
 *   Router.shutdown) before it closes any adapter; it waits for the STOP
 *   notify scripts at most NOTIFY_DRAIN_MS, so a hung script never holds a
 *   shutdown.
 * - Every fault reason is a stable string (`interface:eth0`, `script:N`,
 *   `service:write`, and `transport`, which the router sets itself while
 *   the raw socket is down): it appears in the transition reason and the logs.
 * - Packets for a sibling instance on the same interface (another VRID we
 *   run) are not this instance's drops; anything else goes to the router,
 *   which counts every rejection by reason.
 * - `update()` (reload) changes notify, GARP, preempt, priority and
 *   tracking on the running router: no restart, no priority 0; a tracked
 *   thing that stays tracked keeps its state, and faults that a change
 *   adds are set before those it removes are cleared, so the update itself
 *   never passes through a transition.
 */
import { BatonError, describeError, realClock, type Logger } from '@baton/core';
import {
  Router,
  createNetlinkVipManager,
  vipLifetimeSeconds,
  createScriptNotifier,
  notifyStateName,
  openGarpSender,
  openLinkWatch,
  openRawTransport,
  peekVrid,
  scriptEffect,
  startTrackScript,
  type LinkWatch,
  type LinuxGarpSender,
  type NetlinkVipManager,
  type Notifier,
  type RawTransport,
  type RouterConfig,
  type RouterWhy,
  type ScriptNotifier,
  type StateChange,
  type TrackScript,
  type VrrpState,
} from '@baton/vrrp';
import type { VrrpInstanceConfig } from '../config/types.js';
import { InstanceStats, type InstanceCounters } from './stats.js';

/** Longest wait for queued notify scripts (the STOP one) during stop(). */
const NOTIFY_DRAIN_MS = 2000;

/** What the instance needs from the rest of the daemon. */
export interface InstanceDeps {
  logger: Logger;
  /** Services that have no up server right now (ControlPlane.servicesWithoutUpServer). */
  servicesWithoutUpServer(): string[];
  /** Subscribes to control-plane changes; returns the unsubscribe function. */
  subscribeControl(listener: () => void): () => void;
  /** VRIDs of the other instances on the same interface (their packets are not ours to count). */
  siblingVrids(): ReadonlySet<number>;
  /**
   * The v2 password, resolved by whoever owns the environment (the daemon
   * resolves it and hands it to the VRRP child over IPC).
   */
  authPass: string | undefined;
  /** Called after every transition, once the router's state is current. */
  onStateChange?(change: StateChange): void;
  /** Called when a tracked thing set or cleared a fault, or a held backup's wish to be master changed (a sync group reads them even without a transition). */
  onFaultsChanged?(): void;
}

export interface InstanceSnapshot {
  name: string;
  state: VrrpState;
  priority: number;
  effectivePriority: number;
  master: string | null;
  virtualIps: string[];
  faults: string[];
  stats: InstanceCounters;
  /** For `baton status --why`; ages are as of `takenAt` (epoch ms). */
  why?: RouterWhy & { takenAt: number };
}

export function vipStrings(cfg: VrrpInstanceConfig): string[] {
  return cfg.virtualIps.map((v) => `${v.address}/${v.prefixLength}`);
}

/** The v2 password from the environment, or undefined. Throws when the named variable is unset. */
export function resolveAuthPass(cfg: VrrpInstanceConfig): string | undefined {
  if (cfg.authPassEnv === undefined) return undefined;
  const value = process.env[cfg.authPassEnv];
  if (value === undefined || value === '') {
    throw new BatonError('config-invalid', `vrrp ${cfg.name}: auth_pass_env ${cfg.authPassEnv} is not set`);
  }
  return value;
}

/**
 * Logs keepalived-style transition lines, then hands the change to the notify
 * scripts. `scripts` is read at each change, so a reload that changes them
 * takes effect from the next transition.
 */
function loggingNotifier(log: Logger, scripts: () => ScriptNotifier | undefined, onChange?: (change: StateChange) => void): Notifier {
  return {
    notify(change: StateChange) {
      log.info(`${change.instance} entering ${notifyStateName(change.to)} state`, {
        from: change.from,
        reason: change.reason,
        priority: change.priority,
      });
      scripts()?.notify(change);
      // The router may still be updating its fields while it notifies; report on the next turn.
      if (onChange) setImmediate(() => onChange(change));
    },
  };
}

/** The notifier for an instance's notify keys, or undefined when it has none. */
export function instanceNotifier(c: VrrpInstanceConfig, log: Logger): ScriptNotifier | undefined {
  const byState = { MASTER: c.notifyOn.master, BACKUP: c.notifyOn.backup, FAULT: c.notifyOn.fault, STOP: c.notifyOn.stop };
  const any = c.notify.length + Object.values(byState).reduce((n, l) => n + l.length, 0);
  return any > 0 ? createScriptNotifier({ scripts: c.notify, byState, logger: log }) : undefined;
}

const notifyKeys = (c: VrrpInstanceConfig): string => JSON.stringify([c.notify, c.notifyOn]);

/** What a tracked interface contributes: keepalived's weight rule, the same as a track script's. */
function linkEffect(weight: number, up: boolean): { fault: boolean; delta: number } {
  const e = scriptEffect(weight, up ? 'ok' : 'failed');
  return { fault: e.fault, delta: e.priorityDelta };
}

/** One running track script and what it contributes to the router now. */
interface RunningScript {
  /** Its config as JSON: a reload keeps it running when this is unchanged. */
  key: string;
  script: TrackScript;
  fault: boolean;
  delta: number;
}

export class VrrpInstance {
  readonly name: string;
  readonly stats = new InstanceStats();
  private router: Router | undefined;
  private transport: RawTransport | undefined;
  private vips: NetlinkVipManager | undefined;
  private garp: LinuxGarpSender | undefined;
  private scripts: ScriptNotifier | undefined;
  private linkWatch: LinkWatch | undefined;
  /** Index i runs `track.scripts[i]`; its fault reason is `script:i`. */
  private trackScripts: RunningScript[] = [];
  /** What each weighted tracked interface adds to the priority now. */
  private readonly linkDeltas = new Map<string, number>();
  private readonly faultedServices = new Set<string>();
  private unsubscribeServices: (() => void) | undefined;
  private readonly cleanups: (() => void)[] = [];
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;

  constructor(
    private cfg: VrrpInstanceConfig,
    private readonly deps: InstanceDeps,
  ) {
    this.name = cfg.name;
    this.log = deps.logger.child({ instance: cfg.name });
  }

  get config(): VrrpInstanceConfig {
    return this.cfg;
  }

  /** Opens everything and starts the router; on failure closes what was opened and rethrows. */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async open(): Promise<void> {
    const c = this.config;
    const authPass = this.deps.authPass;
    const vipList = vipStrings(c);
    const log = this.log;

    // The VIPs carry a lifetime the master renews: a node killed outright loses them on its own.
    this.vips = createNetlinkVipManager({ interface: c.interface, vips: vipList, lifetimeS: vipLifetimeSeconds(c.advertIntervalMs), logger: log });
    const leftovers = await this.vips.removeLeftovers();
    if (leftovers.length > 0) log.warn('removed virtual ips left from a previous run', { vips: leftovers.join(',') });

    this.transport = await openRawTransport({
      interface: c.interface,
      ...(c.unicastSrcIp !== undefined ? { primaryAddr: c.unicastSrcIp } : {}),
      unicastPeers: c.unicastPeers,
      onDrop: (reason) => this.stats.packetDropped(reason),
      logger: log,
    });
    this.garp = await openGarpSender({ interface: c.interface, vips: vipList, logger: log });
    this.scripts = instanceNotifier(c, log);

    const routerConfig: RouterConfig = {
      name: c.name,
      vrid: c.routerId,
      priority: c.priority,
      version: c.version,
      advertIntervalMs: c.advertIntervalMs,
      preempt: c.preempt,
      preemptDelayMs: c.preemptDelayMs,
      primaryAddr: this.transport.primaryAddr,
      unicastPeers: c.unicastPeers,
      virtualIps: vipList,
      ...(authPass !== undefined ? { authPass } : {}),
      v3ChecksumAsV2: c.v3ChecksumAsV2,
      garp: { repeat: c.garp.repeat, intervalMs: c.garp.intervalMs, refreshMs: c.garp.refreshMs, delayMs: c.garp.delayMs },
    };
    const router = new Router({
      config: routerConfig,
      clock: realClock,
      transport: this.transport,
      vips: this.vips,
      garp: this.garp,
      notifier: loggingNotifier(log, () => this.scripts, this.deps.onStateChange),
      stats: this.stats,
      logger: log,
    });
    this.router = router;
    // A held backup that would take over (or no longer would) is news for its sync group.
    router.onWantsMaster = () => this.deps.onFaultsChanged?.();

    await this.armTracking(router);

    const ownVrid = c.routerId;
    this.cleanups.push(
      this.transport.onPacket((packet) => {
        const vrid = peekVrid(packet);
        if (vrid !== undefined && vrid !== ownVrid && this.deps.siblingVrids().has(vrid)) return;
        router.handlePacket(packet);
      }),
    );
    router.start();
    log.info('vrrp instance started', {
      interface: c.interface,
      router_id: c.routerId,
      version: c.version,
      priority: c.priority,
      advert_interval_ms: c.advertIntervalMs,
      src: this.transport.primaryAddr,
      mode: c.unicastPeers.length > 0 ? 'unicast' : 'multicast',
    });
  }

  private async armTracking(router: Router): Promise<void> {
    const t = this.config.track;
    if (t.interfaces.length > 0) {
      this.linkWatch = await this.watchLinks(router);
      for (const ti of t.interfaces) this.applyLink(router, ti.name, this.linkWatch.isUp(ti.name));
    }
    this.trackScripts = t.scripts.map((s, i) => this.startScript(router, s, i));
    this.trackServices(router, t.services);
  }

  private watchLinks(router: Router, interfaces = this.config.track.interfaces): Promise<LinkWatch> {
    return openLinkWatch({
      interfaces: interfaces.map((t) => t.name),
      onChange: (change) => {
        this.log.info(change.up ? 'tracked interface up' : 'tracked interface down', { interface: change.name });
        this.applyLink(router, change.name, change.up);
      },
      logger: this.log,
    });
  }

  /**
   * Applies a tracked link's state with its weight (read from the current
   * config, so a reload that changes a weight takes effect at once): weight
   * 0 sets or clears the `interface:NAME` fault, any other moves the
   * priority by the difference from what the link contributed so far.
   */
  private applyLink(router: Router, name: string, up: boolean | undefined): void {
    const weight = this.cfg.track.interfaces.find((t) => t.name === name)?.weight ?? 0;
    const effect = linkEffect(weight, up !== false);
    const before = this.linkDeltas.get(name) ?? 0;
    router.setFault(`interface:${name}`, effect.fault);
    if (effect.delta !== before) {
      router.adjustPriority(effect.delta - before);
      this.linkDeltas.set(name, effect.delta);
    }
    this.deps.onFaultsChanged?.();
  }

  /** Withdraws what a link no longer tracked contributed. */
  private releaseLink(router: Router, name: string): void {
    router.setFault(`interface:${name}`, false);
    const delta = this.linkDeltas.get(name) ?? 0;
    if (delta !== 0) router.adjustPriority(-delta);
    this.linkDeltas.delete(name);
  }

  private startScript(router: Router, s: VrrpInstanceConfig['track']['scripts'][number], i: number): RunningScript {
    const reason = `script:${i}`;
    const running: RunningScript = { key: JSON.stringify(s), fault: false, delta: 0, script: undefined as unknown as TrackScript };
    running.script = startTrackScript({
      name: `${this.name}/${reason}`,
      command: s.command,
      intervalMs: s.intervalMs,
      timeoutMs: s.timeoutMs,
      rise: s.rise,
      fall: s.fall,
      weight: s.weight,
      logger: this.log,
      onChange: (status) => {
        this.log.info('track script status', { script: reason, command: s.command.join(' '), status });
        const effect = running.script.effect();
        running.fault = effect.fault;
        router.setFault(reason, effect.fault);
        this.deps.onFaultsChanged?.();
        // adjustPriority is incremental: apply the difference from what this script contributed so far.
        if (effect.priorityDelta !== running.delta) {
          router.adjustPriority(effect.priorityDelta - running.delta);
          running.delta = effect.priorityDelta;
        }
      },
    });
    return running;
  }

  /** Tracks `services` (replacing an earlier set); a service no longer tracked has its fault cleared. */
  private trackServices(router: Router, services: readonly string[]): void {
    this.unsubscribeServices?.();
    this.unsubscribeServices = undefined;
    const tracked = new Set(services);
    const check = () => {
      const down = new Set(this.deps.servicesWithoutUpServer());
      for (const svc of tracked) {
        const isDown = down.has(svc);
        if (isDown === this.faultedServices.has(svc)) continue;
        if (isDown) this.faultedServices.add(svc);
        else this.faultedServices.delete(svc);
        this.log.info(isDown ? 'tracked service has no up server' : 'tracked service has an up server', { service: svc });
        router.setFault(`service:${svc}`, isDown);
        this.deps.onFaultsChanged?.();
      }
    };
    // New faults first, then the released ones: a fault that moves from one service to another never passes through "no fault".
    check();
    for (const svc of [...this.faultedServices]) {
      if (tracked.has(svc)) continue;
      this.faultedServices.delete(svc);
      router.setFault(`service:${svc}`, false);
    }
    if (tracked.size > 0) this.unsubscribeServices = this.deps.subscribeControl(check);
  }

  /**
   * Applies a reload's new config to the running router, without a restart
   * (diff.ts decides which changes may): notify scripts, GARP timing,
   * preempt, priority and tracking. Tracking that did not change keeps
   * running with its state; a fault that a change keeps active stays active
   * throughout, so no transition comes from the update itself.
   */
  async update(next: VrrpInstanceConfig): Promise<void> {
    const router = this.router;
    if (!router) throw new BatonError('vrrp-not-running', `vrrp ${this.name}: not running`);
    const prev = this.cfg;
    const t = next.track;

    // Interfaces: the new watch first (it can fail, and then nothing changed), then faults set before cleared.
    if (JSON.stringify(prev.track.interfaces) !== JSON.stringify(t.interfaces)) {
      const watch = t.interfaces.length > 0 ? await this.watchLinks(router, t.interfaces) : undefined;
      this.linkWatch?.close();
      this.linkWatch = watch;
      this.cfg = next;
      for (const ti of t.interfaces) this.applyLink(router, ti.name, watch!.isUp(ti.name));
      for (const old of prev.track.interfaces) if (!t.interfaces.some((ti) => ti.name === old.name)) this.releaseLink(router, old.name);
    }

    this.cfg = next;
    if (notifyKeys(prev) !== notifyKeys(next)) {
      // The old notifier finishes what it has queued; new changes go to the new scripts.
      this.scripts = instanceNotifier(next, this.log);
    }
    router.updateSettings({
      preempt: next.preempt,
      preemptDelayMs: next.preemptDelayMs,
      garp: { repeat: next.garp.repeat, intervalMs: next.garp.intervalMs, refreshMs: next.garp.refreshMs, delayMs: next.garp.delayMs },
    });
    // The base priority moves like a tracking weight (diff.ts restarts a change to or from the owner's 255).
    if (next.priority !== prev.priority) router.adjustPriority(next.priority - prev.priority);

    // Scripts: the same config at the same index keeps running; any other is stopped and its effect withdrawn.
    const kept: RunningScript[] = [];
    const withdrawn: { reason: string; running: RunningScript }[] = [];
    this.trackScripts.forEach((running, i) => {
      const want = t.scripts[i];
      if (want && JSON.stringify(want) === running.key) kept[i] = running;
      else withdrawn.push({ reason: `script:${i}`, running });
    });
    for (const { running } of withdrawn) running.script.stop();
    this.trackScripts = t.scripts.map((s, i) => kept[i] ?? this.startScript(router, s, i));
    for (const { reason, running } of withdrawn) {
      if (running.delta !== 0) router.adjustPriority(-running.delta);
      // A replacement at the same index starts without a verdict, so the old one's fault goes either way.
      if (running.fault) router.setFault(reason, false);
    }

    this.trackServices(router, t.services);
  }

  /** Sets or clears a fault decided outside the instance (a sync group's `sync:GROUP`). */
  setExternalFault(reason: string, on: boolean): void {
    this.router?.setFault(reason, on);
  }

  /** Holds the router out of master, or releases it (a sync group's `sync:GROUP`). */
  setExternalHold(reason: string, on: boolean): void {
    this.router?.setHold(reason, on);
  }

  /** What a sync group reads: state, faults, holds, and whether a held backup would take over. */
  syncView(): { state: VrrpState; faults: readonly string[]; holds: readonly string[]; wantsMaster: boolean } {
    const r = this.router;
    return { state: r?.state ?? 'init', faults: r?.faults ?? [], holds: r?.holds ?? [], wantsMaster: r?.wantsMaster ?? false };
  }

  snapshot(): InstanceSnapshot {
    const r = this.router;
    return {
      name: this.name,
      state: r?.state ?? 'init',
      priority: this.config.priority,
      effectivePriority: r?.effectivePriority ?? this.config.priority,
      master: r?.masterAddr ?? null,
      virtualIps: vipStrings(this.config),
      faults: [...(r?.faults ?? [])],
      stats: this.stats.toJSON(),
      ...(r ? { why: { ...r.why(), takenAt: Date.now() } } : {}),
    };
  }

  /** Logs the counters as one line (SIGUSR2 and shutdown). */
  logStats(): void {
    const s = this.stats.toJSON();
    const drops = Object.entries(s.drops)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(',');
    const transitions = Object.entries(s.transitions)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(',');
    this.log.info('vrrp stats', {
      state: this.router?.state ?? 'init',
      adverts_sent: s.advertsSent,
      adverts_received: s.advertsReceived,
      address_mismatches: s.addressMismatches,
      dropped: this.stats.totalDrops,
      drops: drops || '-',
      transitions: transitions || '-',
    });
  }

  /** Priority 0 when master, VIPs removed, then every adapter closed. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    for (const fn of this.cleanups.splice(0)) fn();
    this.unsubscribeServices?.();
    this.unsubscribeServices = undefined;
    for (const s of this.trackScripts.splice(0)) s.script.stop();
    this.linkWatch?.close();
    if (this.router) await this.router.shutdown();
    if (this.scripts) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.scripts.idle(), new Promise<void>((r) => (timer = setTimeout(r, NOTIFY_DRAIN_MS)))]);
      clearTimeout(timer);
    }
    this.transport?.close();
    this.garp?.close();
    await this.vips?.close().catch((err: unknown) => this.log.warn('closing netlink failed', { error: describeError(err) }));
  }
}
