/**
 * The daemon: loads the config, runs the data plane and the control plane,
 * and handles the process's life (reload on SIGHUP, graceful stop on
 * SIGTERM/SIGINT).
 *
 * Reload is all or nothing: a file that does not validate, or a new listen
 * address that cannot be bound, is logged and the running config stays.
 */
import { BatonError, describeError, type Logger } from '@baton/core';
import { DataPlane } from '@baton/proxy';
import { formatConfigIssue, loadConfigFile } from './config/index.js';
import type { BatonConfig } from './config/types.js';
import { ControlPlane } from './control-plane.js';
import { toServiceSpec } from './specs.js';
import type { Subsystem, SubsystemContext } from './subsystem.js';
import { HealthSubsystem } from './health/index.js';
import { VrrpSubsystem } from './vrrp/index.js';

/**
 * The subsystems, in start order (stopped in reverse). Each is constructed
 * here and nowhere else.
 */
function createSubsystems(context: SubsystemContext): Subsystem[] {
  // VRRP after health: tracked services already have their first states; stopped first, so priority 0 goes out before the drain.
  return [new HealthSubsystem(context), new VrrpSubsystem(context)];
}

export interface DaemonOptions {
  configPath: string;
  logger: Logger;
}

export class Daemon {
  readonly dataPlane: DataPlane;
  readonly control: ControlPlane;
  private config: BatonConfig | undefined;
  private readonly logger: Logger;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<boolean> = Promise.resolve(true);
  private readonly subsystems: Subsystem[];
  private started: Subsystem[] = [];

  constructor(private readonly options: DaemonOptions) {
    this.logger = options.logger;
    this.dataPlane = new DataPlane({ logger: this.logger });
    this.control = new ControlPlane({
      setServerState: (service, server, state, reason) => this.dataPlane.setServerState(service, server, state, reason),
      setWriter: (service, server, reason) => this.dataPlane.setWriter(service, server, reason),
    });
    this.subsystems = createSubsystems({ logger: this.logger, control: this.control, dataPlane: this.dataPlane });
  }

  get currentConfig(): BatonConfig | undefined {
    return this.config;
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
    await this.dataPlane.apply(config.services.map(toServiceSpec));
    this.config = config;
    this.control.setConfig(config);
    for (const sub of this.subsystems) {
      await sub.start(config);
      this.started.push(sub);
    }
    this.logger.info('baton started', {
      node: config.node,
      config: this.options.configPath,
      services: config.services.length,
      pid: process.pid,
    });
  }

  /** Re-reads the file and applies the difference. Returns false (and keeps the running config) when it cannot. */
  reload(): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.doReload());
    return this.reloading;
  }

  private async doReload(): Promise<boolean> {
    if (this.stopping) return false;
    this.logger.info('reloading', { config: this.options.configPath });
    let config: BatonConfig;
    try {
      config = await this.load();
    } catch (err) {
      this.logger.error('reload rejected, running config kept', { error: describeError(err) });
      return false;
    }
    try {
      const diff = await this.dataPlane.apply(config.services.map(toServiceSpec));
      this.config = config;
      this.control.setConfig(config);
      for (const sub of this.started) await sub.reload(config);
      this.logger.info('config reloaded', {
        added: diff.added.join(',') || '-',
        removed: diff.removed.join(',') || '-',
        changed: diff.changed.join(',') || '-',
      });
      return true;
    } catch (err) {
      this.logger.error('reload rejected, running config kept', { error: describeError(err) });
      return false;
    }
  }

  /** Stops accepting, lets sessions finish up to shutdown_timeout, then closes the rest. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const graceMs = this.config?.shutdownTimeoutMs ?? 10_000;
      this.logger.info('shutting down', { open_sessions: this.dataPlane.activeSessions(), grace_ms: graceMs });
      for (const sub of [...this.started].reverse()) {
        await sub.stop().catch((err: unknown) => this.logger.error('subsystem stop failed', { subsystem: sub.name, error: describeError(err) }));
      }
      this.started = [];
      const closed = await this.dataPlane.shutdown(graceMs);
      this.logger.info('stopped', { sessions_closed: closed });
    })();
    return this.stopping;
  }
}

/** Runs a daemon until a signal stops it; wires SIGHUP, SIGTERM and SIGINT. Returns the exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const daemon = new Daemon(options);
  try {
    await daemon.start();
  } catch (err) {
    options.logger.error('cannot start', { error: describeError(err) });
    await daemon.stop();
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onStop = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        options.logger.warn('second signal, exiting now', { signal });
        resolve(0);
        return;
      }
      options.logger.info('signal received', { signal });
      void daemon.stop().then(() => resolve(0));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => {
      options.logger.info('signal received', { signal: 'SIGHUP' });
      void daemon.reload();
    });
  });
}
