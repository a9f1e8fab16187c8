/**
 * The VRRP subsystem: one VrrpInstance per `vrrp:` entry, run in a child
 * process (child.ts) so that the routers' timers never wait behind the relay
 * on the daemon's event loop. This side keeps the Subsystem interface: it
 * resolves what only the daemon knows (passwords from its environment, the
 * tracked services' status) and sends it over IPC; the child sends back log
 * records (written here, so the log stays one stream), snapshots and stats.
 *
 * Invariants:
 * - Without a `vrrp:` section nothing is forked and nothing subscribed.
 * - Reload is prepared here before anything changes: every password is
 *   resolved, and every instance that will start or restart has its
 *   interface, source address and raw socket opened once and closed, so a
 *   missing interface rejects the reload instead of half-applying it.
 * - The commit sends the whole wanted set; the child diffs each instance
 *   (diff.ts), so an unchanged master stays master and a notify, garp,
 *   preempt, priority or track change is applied without a transition.
 * - stop() resolves once the child has sent priority 0, removed the VIPs and
 *   exited, or was killed after STOP_TIMEOUT_MS; the data plane drains after.
 * - A child that dies on its own is logged and forked again with backoff,
 *   with the last wanted set; the daemon's death closes the IPC channel and
 *   the child then shuts its routers down by itself.
 * - logStats() (the daemon's SIGUSR2) makes the child log one `vrrp stats`
 *   line per instance. The daemon owns every signal handler: this process
 *   must survive SIGUSR2 whether or not a child runs.
 * - The child logs at the config's log_level: every apply carries it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BatonError, describeError, silentLogger, type LogLevel } from '@baton/core';
import { openRawTransport } from '@baton/vrrp';
import type { BatonConfig, VrrpInstanceConfig, VrrpScheduling, VrrpSyncGroupConfig } from '../config/types.js';
import type { PreparedReload, ReloadFields, Subsystem, SubsystemContext } from '../subsystem.js';
import { diffInstance } from './diff.js';
import { resolveAuthPass, type InstanceSnapshot } from './instance.js';
import { CHILD_ENTRY, type ApplySummary, type FromChild, type InstanceSpec, type ToChild } from './ipc.js';

/** Longest wait for the child's orderly shutdown (its notify drain is 2 s). */
const STOP_TIMEOUT_MS = 5000;
/** Restart backoff after an unexpected exit: doubles up to the max, resets after a stable run. */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 5000;
const STABLE_RUN_MS = 10_000;
/** Above the data plane's nice 0: the routers win the CPU when both want it. */
const CHILD_NICE = -5;

function specsOf(config: BatonConfig): InstanceSpec[] {
  return config.vrrp.map((cfg) => ({
    config: cfg,
    // Throws for an unset auth_pass_env: start/reload reject as before.
    authPass: resolveAuthPass(cfg),
    siblings: config.vrrp.filter((o) => o.interface === cfg.interface && o.name !== cfg.name).map((o) => o.routerId),
    ...syncGroupField(config, cfg.name),
  }));
}

function syncGroupField(config: BatonConfig, name: string): { syncGroup?: VrrpSyncGroupConfig } {
  const group = config.vrrpSyncGroups.find((g) => g.instances.includes(name));
  return group ? { syncGroup: group } : {};
}

/**
 * What an instance's start needs from the host, checked without starting it:
 * the interface exists and has an address to send from (or unicast_src_ip is
 * set), and a raw VRRP socket can be opened on it. Rejects with the reason.
 */
async function preflight(cfg: VrrpInstanceConfig): Promise<void> {
  try {
    const transport = await openRawTransport({
      interface: cfg.interface,
      ...(cfg.unicastSrcIp !== undefined ? { primaryAddr: cfg.unicastSrcIp } : {}),
      unicastPeers: cfg.unicastPeers,
      logger: silentLogger,
    });
    transport.close();
  } catch (err) {
    const code = err instanceof BatonError ? err.code : 'vrrp-start-failed';
    throw new BatonError(code, `vrrp ${cfg.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** The non-empty parts of an apply, for the daemon's reload line. */
function summaryFields(s: ApplySummary): ReloadFields {
  const fields: ReloadFields = {};
  for (const key of ['added', 'removed', 'restarted', 'updated'] as const) if (s[key].length > 0) fields[`vrrp_${key}`] = s[key].join(',');
  return fields;
}

interface Pending {
  resolve(summary: ApplySummary | undefined): void;
  reject(err: Error): void;
}

export class VrrpSubsystem implements Subsystem {
  readonly name = 'vrrp';
  private child: ChildProcess | undefined;
  private childExited: Promise<void> = Promise.resolve();
  private wanted: InstanceSpec[] = [];
  private logLevel: LogLevel = 'info';
  private scheduling: VrrpScheduling | undefined;
  private snapshots: InstanceSnapshot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_MIN_MS;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly context: SubsystemContext) {}

  async start(config: BatonConfig): Promise<void> {
    try {
      this.scheduling = config.vrrpScheduling;
      await this.apply(specsOf(config), config.logLevel);
    } catch (err) {
      // The daemon does not stop a subsystem whose start failed: leave no child (nor VIP) behind.
      await this.stop();
      throw err;
    }
  }

  async prepare(config: BatonConfig): Promise<PreparedReload> {
    // Throws for an unset auth_pass_env.
    const specs = specsOf(config);
    const running = new Map(this.wanted.map((s) => [s.config.name, s]));
    for (const spec of specs) {
      const prev = running.get(spec.config.name);
      // An instance kept (or updated in place) keeps its open socket: nothing to check.
      if (prev && diffInstance(prev, spec).restart.length === 0) continue;
      await preflight(spec.config);
    }
    return {
      commit: async () => {
        this.scheduling = config.vrrpScheduling;
        return summaryFields(await this.apply(specs, config.logLevel));
      },
      abort: () => Promise.resolve(),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.uninstall();
    await this.stopChild();
    this.snapshots = [];
  }

  /** For the admin API: one entry per instance, in config order (as last reported by the child). */
  snapshot(): InstanceSnapshot[] {
    return this.snapshots;
  }

  /** Asks the child for its `vrrp stats` lines; false when no child runs (no `vrrp:` instance). */
  logStats(): boolean {
    return this.send({ t: 'log-stats' });
  }

  private async apply(specs: InstanceSpec[], logLevel: LogLevel): Promise<ApplySummary> {
    const before = this.wanted.map((s) => s.config.name);
    this.wanted = specs;
    this.logLevel = logLevel;
    if (specs.length === 0) {
      // Every instance removed: the child's stop is exactly "stop them all".
      this.uninstall();
      await this.stopChild();
      this.snapshots = [];
      return { added: [], removed: before, restarted: [], updated: [] };
    }
    this.stopped = false;
    if (!this.child) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.spawn();
    }
    this.install();
    const summary = await this.request({ t: 'apply', id: 0, instances: specs, servicesDown: this.servicesDown(), logLevel: this.logLevel, scheduling: this.scheduling });
    return summary ?? { added: [], removed: [], restarted: [], updated: [] };
  }

  private servicesDown(): string[] {
    return this.context.control.servicesWithoutUpServer();
  }

  private install(): void {
    this.unsubscribe ??= this.context.control.subscribe(() => this.send({ t: 'services', down: this.servicesDown() }));
  }

  private uninstall(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private spawn(): void {
    const { logger } = this.context;
    const child = fork(fileURLToPath(CHILD_ENTRY), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    const startedAt = Date.now();
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, CHILD_NICE);
      } catch {
        // Not root (or no CAP_SYS_NICE): same priority as the daemon, still its own event loop.
      }
    }
    logger.info('vrrp child started', { pid: child.pid ?? null });
    child.on('message', (raw) => this.onMessage(raw as FromChild));
    child.on('error', (err) => logger.error('vrrp child error', { error: describeError(err) }));
    this.childExited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        const expected = this.stopped;
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(new BatonError('vrrp-child-exited', `vrrp child exited (code ${code}, signal ${signal})`));
        }
        if (!expected) {
          logger.error('vrrp child exited unexpectedly', { pid: child.pid ?? null, code, signal });
          if (Date.now() - startedAt >= STABLE_RUN_MS) this.restartDelay = RESTART_MIN_MS;
          this.scheduleRestart();
        }
        resolve();
      });
    });
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(RESTART_MAX_MS, this.restartDelay * 2);
    this.context.logger.warn('vrrp child restarting', { delay_ms: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || this.child || this.wanted.length === 0) return;
      this.spawn();
      this.request({ t: 'apply', id: 0, instances: this.wanted, servicesDown: this.servicesDown(), logLevel: this.logLevel, scheduling: this.scheduling }).catch((err: unknown) =>
        this.context.logger.error('vrrp restart failed', { error: describeError(err) }),
      );
    }, delay);
  }

  private onMessage(msg: FromChild): void {
    switch (msg.t) {
      case 'log':
        this.context.logger[msg.level](msg.message, msg.fields);
        break;
      case 'snapshot':
        this.snapshots = msg.instances;
        break;
      case 'done': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new BatonError(msg.error.code, msg.error.message));
        else p.resolve(msg.summary);
        break;
      }
    }
  }

  private send(msg: ToChild): boolean {
    const child = this.child;
    if (!child?.connected) return false;
    child.send(msg, (err) => {
      if (err) this.context.logger.warn('vrrp child message lost', { type: msg.t, error: describeError(err) });
    });
    return true;
  }

  private request(msg: Extract<ToChild, { id: number }>): Promise<ApplySummary | undefined> {
    const id = this.nextId++;
    return new Promise<ApplySummary | undefined>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.send({ ...msg, id })) {
        this.pending.delete(id);
        reject(new BatonError('vrrp-child-exited', 'vrrp child is not running'));
      }
    });
  }

  private async stopChild(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const wasStopped = this.stopped;
    this.stopped = true;
    const exited = this.childExited;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STOP_TIMEOUT_MS)));
    this.request({ t: 'stop', id: 0 }).catch(() => undefined);
    const late = await Promise.race([exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.context.logger.error('vrrp child did not stop in time, killing it', { pid: child.pid ?? null, timeout_ms: STOP_TIMEOUT_MS });
      child.kill('SIGKILL');
      await exited;
    }
    this.stopped = wasStopped;
  }
}
