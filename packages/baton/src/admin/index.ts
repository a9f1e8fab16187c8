/**
 * The admin subsystem: the HTTP server on `admin.listen` with the status
 * page, the JSON API and /metrics, over the control plane, the data plane's
 * counters, the health checks' last results and the VRRP snapshots.
 *
 * Invariants:
 * - An operator change goes through the control plane like any other: the
 *   data plane (every worker) hears the resulting state, once.
 * - The token is read from the environment at start and at each reload; a
 *   `token_env` naming an unset variable is an error at start (never an
 *   open API by mistake) and rejects a reload (prepare), which then changes
 *   nothing anywhere.
 * - A reload that moves `admin.listen` binds the new address in prepare,
 *   before anything changes, and closes the old one only at commit; when it
 *   cannot bind, the reload is rejected and the old listener stays.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatonError, describeError, type Logger } from '@baton/core';
import type { CheckResult } from '@baton/health';
import { formatHostPort as key } from '../config/address.js';
import type { BatonConfig, HostPort } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { DataPlaneHost } from '../dataplane/host.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';
import { BatonMetrics } from './metrics.js';
import { renderStatusPage } from './page.js';
import { ApiError, createAdminServer, type AdminAction } from './server.js';
import { buildStatus } from './status.js';
import type { PreparedReload, ReloadFields, Subsystem } from '../subsystem.js';

export interface AdminSources {
  logger: Logger;
  control: ControlPlane;
  dataPlane: () => DataPlaneHost;
  vrrp: () => readonly InstanceSnapshot[];
  lastCheck: (service: string, server: string) => CheckResult | undefined;
  metrics: BatonMetrics;
}

function resolveToken(env: string | undefined): string | undefined {
  if (env === undefined) return undefined;
  const value = process.env[env];
  if (value === undefined || value === '') throw new BatonError('config-invalid', `admin.token_env ${env} is not set`);
  return value;
}

export class AdminSubsystem implements Subsystem {
  readonly name = 'admin';
  private server: http.Server | undefined;
  private listenKey = '';
  private token: string | undefined;
  private config: BatonConfig | undefined;
  private readonly startedAt = performance.now();
  private readonly logger: Logger;

  constructor(private readonly sources: AdminSources) {
    this.logger = sources.logger.child({ subsystem: 'admin' });
  }

  /** The bound address (tests listen on port 0). */
  address(): AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  async start(config: BatonConfig): Promise<void> {
    this.token = resolveToken(config.admin.tokenEnv);
    this.config = config;
    this.server = await this.listen(config.admin.listen);
    this.listenKey = key(config.admin.listen);
  }

  async prepare(config: BatonConfig): Promise<PreparedReload> {
    const token = resolveToken(config.admin.tokenEnv);
    const listenKey = key(config.admin.listen);
    const next = listenKey === this.listenKey ? undefined : await this.listen(config.admin.listen);
    return {
      commit: () => {
        this.token = token;
        this.config = config;
        this.sources.metrics.prune(config);
        if (next) {
          this.server?.close();
          this.server?.closeAllConnections();
          this.server = next;
          this.listenKey = listenKey;
        }
        return Promise.resolve<ReloadFields>(next ? { admin_listen: listenKey } : {});
      },
      abort: () =>
        new Promise<void>((resolve) => {
          if (!next) return resolve();
          next.close(() => resolve());
          next.closeAllConnections();
        }),
    };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private listen(at: HostPort): Promise<http.Server> {
    const server = createAdminServer({
      logger: this.logger,
      token: () => this.token,
      listenHost: at.host,
      handlers: {
        page: renderStatusPage,
        status: () => this.status(),
        metrics: () => this.sources.metrics.render(),
        setState: (service, server, action) => this.setState(service, server, action),
      },
    });
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new BatonError('listen-failed', `admin.listen ${key(at)}: ${err.message}`, { cause: err })));
      server.listen({ host: at.host, port: at.port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.logger.error('admin server error', { error: describeError(err) }));
        const a = server.address() as AddressInfo;
        this.logger.info('admin listening', { listen: `${a.address}:${a.port}`, token: this.token ? 'required' : 'none' });
        resolve(server);
      });
    });
  }

  private async status() {
    const config = this.config!;
    const dataPlane = this.sources.dataPlane();
    return buildStatus({
      config,
      control: this.sources.control,
      counters: await dataPlane.counters(),
      vrrp: this.sources.vrrp(),
      lastCheck: this.sources.lastCheck,
      workers: dataPlane.workers,
      uptimeS: (performance.now() - this.startedAt) / 1000,
      tokenRequired: this.token !== undefined,
    });
  }

  private setState(service: string, server: string, action: AdminAction) {
    const { control } = this.sources;
    if (!this.config?.services.some((s) => s.name === service)) throw new ApiError(404, 'unknown-service', `no service named ${JSON.stringify(service)}`);
    if (!control.setAdmin(service, server, action)) throw new ApiError(404, 'unknown-server', `service ${service} has no server named ${JSON.stringify(server)}`);
    const st = control.status(service, server)!;
    return { service, server, admin: st.admin, state: st.state };
  }
}
