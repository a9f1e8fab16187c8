/**
 * The daemon: loads the config, runs the data plane (in this process, or in
 * worker processes) and the control plane, and handles the process's life
 * (reload on SIGHUP, graceful stop on SIGTERM/SIGINT, VRRP stats on SIGUSR2).
 *
 * `log_level` holds in every process (this one, the data-plane workers, the
 * VRRP child) from the start on, and a reload changes it everywhere; a
 * reload that is rejected leaves it as it was.
 *
 * Reload is all or nothing: every subsystem prepares first (secrets
 * resolved, VRRP interfaces and addresses checked, new listeners bound)
 * without changing anything, then the data plane applies (itself all or
 * nothing), and only then is each subsystem committed. A file that does not
 * validate, an unset secret, a missing interface or an address that cannot
 * be bound is one error line, and the running config stays, whole.
 *
 * The admin subsystem starts last and stops last, after the data plane has
 * drained, so `baton status` answers during a graceful stop.
 */
import { availableParallelism } from 'node:os';
import { BatonError, describeError, type Logger, type LogLevel } from '@baton/core';
import { setEngineErrorHandler } from '@baton/proxy';
import { formatConfigIssue, loadConfigFile } from './config/index.js';
import type { BatonConfig } from './config/types.js';
import { ControlPlane } from './control-plane.js';
import { toServiceSpec } from './specs.js';
import type { PreparedReload, Subsystem } from './subsystem.js';
import type { ApplyResult } from '@baton/proxy';
import { HealthSubsystem } from './health/index.js';
import { createSystemdNotifier, type SystemdNotifier } from './systemd/notify.js';
import { VrrpSubsystem } from './vrrp/index.js';
import { ClusterSubsystem } from './cluster/subsystem.js';
import { WriterSwitcher } from './cluster/switch.js';
import { AdminSubsystem } from './admin/index.js';
import { BatonMetrics } from './admin/metrics.js';
import { LocalDataPlane, type DataPlaneHost } from './dataplane/host.js';
import { WorkerPool } from './dataplane/workers.js';

/** `workers:` as a process count. */
export function resolveWorkers(workers: BatonConfig['workers']): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}

export interface DaemonOptions {
  configPath: string;
  logger: Logger;
  /** Sets the level of `logger` (the config's log_level, on start and reload). */
  setLogLevel?: (level: LogLevel) => void;
}

export class Daemon {
  private host: DataPlaneHost | undefined;
  /** The relay engine the data plane was started with (a change needs a restart). */
  private engine: 'native' | 'js' = 'native';
  readonly control: ControlPlane;
  readonly metrics: BatonMetrics;
  readonly admin: AdminSubsystem;
  readonly cluster: ClusterSubsystem;
  private config: BatonConfig | undefined;
  private readonly logger: Logger;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<boolean> = Promise.resolve(true);
  /** Started in this order, stopped in reverse; the admin subsystem comes after them and goes after the data plane. */
  private readonly subsystems: Subsystem[];
  private readonly vrrp: VrrpSubsystem;
  private started: Subsystem[] = [];
  private adminStarted = false;
  /** sd_notify(3): READY after start, RELOADING/READY around a reload, STOPPING; nothing without $NOTIFY_SOCKET. */
  private readonly systemd: SystemdNotifier;

  constructor(private readonly options: DaemonOptions) {
    this.logger = options.logger;
    this.systemd = createSystemdNotifier(options.logger);
    this.control = new ControlPlane(
      {
        setServerState: (service, server, state, reason) => this.host?.setServerState(service, server, state, reason),
        setWriter: (service, server, reason) => this.host?.setWriter(service, server, reason),
      },
      this.logger,
    );
    const context = { logger: this.logger, control: this.control };
    const vrrp = new VrrpSubsystem(context);
    this.vrrp = vrrp;
    this.cluster = new ClusterSubsystem({ ...context, vrrp: () => vrrp.snapshot() });
    this.metrics = new BatonMetrics({
      config: () => this.config,
      control: this.control,
      counters: () => this.dataPlane.counters(),
      vrrp: () => vrrp.snapshot(),
      cluster: () => (this.cluster.enabled ? this.cluster.counters : undefined),
    });
    const health = new HealthSubsystem(context, { onCheck: (service, server, result) => this.metrics.observeCheck(service, server, result.ms) });
    // The cluster first (started before the data plane listens, see start()); stopped last of these.
    // VRRP after health: tracked services already have their first states; stopped first, so priority 0 goes out before the drain.
    this.subsystems = [this.cluster, health, vrrp];
    this.admin = new AdminSubsystem({
      logger: this.logger,
      control: this.control,
      dataPlane: () => this.dataPlane,
      vrrp: () => vrrp.snapshot(),
      lastCheck: (service, server) => health.lastCheck(service, server),
      healthView: (service, server) => health.healthView(service, server),
      metrics: this.metrics,
      cluster: this.cluster,
      switcher: new WriterSwitcher({ logger: this.logger, control: this.control, dataPlane: () => this.dataPlane, cluster: this.cluster, config: () => this.config }),
    });
  }

  get dataPlane(): DataPlaneHost {
    if (!this.host) throw new BatonError('not-started', 'the data plane is not running');
    return this.host;
  }

  get currentConfig(): BatonConfig | undefined {
    return this.config;
  }

  /**
   * The config's log_level for this process and the workers. The VRRP child
   * takes it with each apply; its records are written here, at this level.
   */
  private applyLogLevel(level: LogLevel): void {
    this.options.setLogLevel?.(level);
    this.host?.setLogLevel(level);
  }

  /** SIGUSR2: the VRRP counters as one line per instance; false when there is no VRRP instance. */
  logVrrpStats(): boolean {
    return this.vrrp.logStats();
  }

  private async load(): Promise<BatonConfig> {
    const result = await loadConfigFile(this.options.configPath);
    for (const w of result.warnings) this.logger.warn('config warning', { detail: formatConfigIssue(w) });
    if (!result.ok) {
      for (const e of result.errors) this.logger.error('config error', { detail: formatConfigIssue(e) });
      throw new BatonError('config-invalid', `${this.options.configPath}: ${result.errors.length} error(s)`);
    }
    return result.config;
  }

  /** Loads the config and starts every service; throws BatonError when it cannot. */
  async start(): Promise<void> {
    const config = await this.load();
    this.applyLogLevel(config.logLevel);
    const workers = resolveWorkers(config.workers);
    this.host = workers > 1 ? new WorkerPool({ workers, logger: this.logger, logLevel: config.logLevel, engine: config.engine })
        : new LocalDataPlane(this.logger, config.engine);
    this.engine = config.engine;
    setEngineErrorHandler((err) => this.logger.warn('relay engine error', { error: describeError(err) }));
    // The peers' writer decisions (or the state file's) are in before the write ports open.
    this.cluster.configure(config);
    await this.cluster.start(config);
    this.started.push(this.cluster);
    await this.host.apply(config.services.map(toServiceSpec));
    this.config = config;
    this.control.setConfig(config);
    for (const sub of this.subsystems) {
      if (sub === this.cluster) continue;
      await sub.start(config);
      this.started.push(sub);
    }
    await this.admin.start(config);
    this.adminStarted = true;
    this.logger.info('baton started', {
      node: config.node,
      config: this.options.configPath,
      services: config.services.length,
      workers,
      engine: config.engine,
      pid: process.pid,
    });
    // Listeners are bound (apply) and VRRP has started (its subsystem start resolved).
    this.systemd.ready();
    this.systemd.startWatchdog();
  }

  /** Re-reads the file and applies the difference. Returns false (and keeps the running config) when it cannot. */
  reload(): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.doReload());
    return this.reloading;
  }

  private async doReload(): Promise<boolean> {
    if (this.stopping) return false;
    this.systemd.reloading();
    try {
      return await this.applyReload();
    } finally {
      // READY=1 again whether the new config was applied or the old one kept.
      if (!this.stopping) this.systemd.ready();
    }
  }

  private async applyReload(): Promise<boolean> {
    this.logger.info('reloading', { config: this.options.configPath });
    let config: BatonConfig;
    try {
      config = await this.load();
    } catch (err) {
      this.logger.error('reload rejected, running config kept', { error: describeError(err) });
      return false;
    }
    if (config.engine !== this.engine) {
      this.logger.warn('engine change needs a restart; running with the current engine', { engine: this.engine });
    }
    if (resolveWorkers(config.workers) !== this.dataPlane.workers) {
      this.logger.warn('workers change needs a restart; running with the current count', { workers: this.dataPlane.workers });
    }
    // Prepare: everything that can refuse the new config, while nothing has changed yet.
    const subsystems: Subsystem[] = [...this.started, ...(this.adminStarted ? [this.admin] : [])];
    const prepared: { sub: Subsystem; reload: PreparedReload }[] = [];
    let diff: ApplyResult;
    const runningLevel = this.config?.logLevel;
    try {
      // Before the prepare, so what the reload itself logs is at the new level.
      this.applyLogLevel(config.logLevel);
      for (const sub of subsystems) prepared.push({ sub, reload: await sub.prepare(config) });
      // Last of the checks and first of the changes: it binds every new listener or changes nothing.
      diff = await this.dataPlane.apply(config.services.map(toServiceSpec));
    } catch (err) {
      for (const p of prepared.reverse()) {
        await p.reload.abort().catch((e: unknown) => this.logger.warn('reload abort failed', { subsystem: p.sub.name, error: describeError(e) }));
      }
      if (runningLevel) this.applyLogLevel(runningLevel);
      this.logger.error('reload rejected, running config kept', { error: describeError(err) });
      return false;
    }
    // Commit: nothing left to refuse for the reasons prepare checked.
    this.config = config;
    this.cluster.configure(config);
    this.control.setConfig(config);
    const applied: Record<string, string> = {};
    const failed: string[] = [];
    for (const p of prepared) {
      try {
        Object.assign(applied, await p.reload.commit());
      } catch (err) {
        failed.push(p.sub.name);
        this.logger.error('reload: subsystem failed to apply the new config', { subsystem: p.sub.name, error: describeError(err) });
      }
    }
    this.logger[failed.length > 0 ? 'warn' : 'info']('config reloaded', {
      added: diff.added.join(',') || '-',
      removed: diff.removed.join(',') || '-',
      changed: diff.changed.join(',') || '-',
      ...applied,
      ...(failed.length > 0 ? { failed: failed.join(',') } : {}),
    });
    return failed.length === 0;
  }

  /** Stops accepting, lets sessions finish up to shutdown_timeout, then closes the rest. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.systemd.stopping();
      const graceMs = this.config?.shutdownTimeoutMs ?? 10_000;
      const open = this.host ? await this.host.activeSessions().catch(() => -1) : 0;
      this.logger.info('shutting down', { open_sessions: open, grace_ms: graceMs });
      for (const sub of [...this.started].reverse()) {
        await sub.stop().catch((err: unknown) => this.logger.error('subsystem stop failed', { subsystem: sub.name, error: describeError(err) }));
      }
      this.started = [];
      const closed = this.host ? await this.host.shutdown(graceMs) : 0;
      if (this.adminStarted) await this.admin.stop();
      this.adminStarted = false;
      this.logger.info('stopped', { sessions_closed: closed });
    })();
    return this.stopping;
  }
}

/**
 * Runs a daemon until a signal stops it; wires every signal the docs name:
 * SIGHUP (reload), SIGTERM and SIGINT (graceful stop; a second one exits at
 * once), SIGUSR2 (VRRP stats; with no VRRP instance it is logged as ignored,
 * never the default action that would kill the process).
 * Returns the exit code. The handlers are installed before the start, so a
 * signal that arrives while it runs (a reload right after `baton started`,
 * a stop during a slow start) is never the default action that kills the
 * process: it is acted on once the start is over.
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const daemon = new Daemon(options);
  let started = false;
  let reloadQueued = false;
  let stopSignals = 0;
  let stopped: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => (stopped = resolve));
  const onStop = (signal: NodeJS.Signals) => {
    stopSignals++;
    if (stopSignals > 1) {
      options.logger.warn('second signal, exiting now', { signal });
      process.exit(0);
    }
    options.logger.info('signal received', { signal });
    stopped!();
  };
  const onReload = () => {
    // The reload logs its own line (`reloading`); one queued during the start is told here.
    if (started) {
      options.logger.debug('signal received', { signal: 'SIGHUP' });
      void daemon.reload();
    } else {
      options.logger.info('signal received, reload after the start', { signal: 'SIGHUP' });
      reloadQueued = true;
    }
  };
  const onStats = () => {
    if (!daemon.logVrrpStats()) options.logger.info('signal ignored', { signal: 'SIGUSR2', reason: 'no vrrp instance (SIGUSR2 logs the VRRP counters)' });
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  process.on('SIGUSR2', onStats);
  try {
    await daemon.start();
  } catch (err) {
    options.logger.error('cannot start', { error: describeError(err) });
    await daemon.stop();
    return 1;
  }
  started = true;
  if (reloadQueued && stopSignals === 0) void daemon.reload();
  await stopRequested;
  await daemon.stop();
  return 0;
}
