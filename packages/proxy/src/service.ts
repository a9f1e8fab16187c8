/**
 * A service: one listener, one server pool, one balancer, and the sessions
 * between them. Driven by plain data (ServiceSpec, state and writer changes)
 * so the control plane can live in another process.
 *
 * Invariants:
 * - State and writer changes apply to the next connection at once.
 * - 'maint' closes the server's sessions; 'drain' and 'down' keep them.
 * - On a writer service with on_change=close, naming a new writer closes the
 *   old writer's sessions, so no client keeps writing to a former writer.
 * - update() never closes a session whose server is unchanged.
 * - State and writer changes are decisions made elsewhere (health, the
 *   operator, the control plane), logged once there: applying one, in every
 *   worker, is a debug line here.
 */
import net from 'node:net';
import { RateLimiter, silentLogger, type Logger } from '@baton/core';
import type { BalanceKind, WriterBalancer } from './balancers/balancer.js';
import { Pool, type PoolServer } from './pool.js';
import { Session, type SessionEvent, type SessionHost } from './relay.js';
import type { ServerState, ServiceCounters, ServiceSpec } from './types.js';

export interface ServiceOptions {
  logger?: Logger;
  /** Shared listen handle (e.g. from a parent process); default: listen on spec host:port. */
  listenTarget?: () => net.ListenOptions;
  /** roundrobin: the next number of a sequence shared with this service in other worker processes. */
  sequence?: () => number;
}

const SERVER_ERROR_EVENTS = new Set<SessionEvent>(['connect-failed', 'connect-timeout', 'server-error']);

export class Service implements SessionHost {
  readonly name: string;
  spec: ServiceSpec;
  private pool: Pool;
  private listener: net.Server | undefined;
  private readonly sessions = new Set<Session>();
  private readonly logger: Logger;
  private readonly logLimit = new RateLimiter(5, 10_000);
  private accepted = 0;
  private refused = 0;

  constructor(spec: ServiceSpec, options: ServiceOptions = {}) {
    this.name = spec.name;
    this.spec = spec;
    this.logger = (options.logger ?? silentLogger).child({ service: spec.name });
    this.pool = new Pool(spec.balance, spec.servers, { sequence: options.sequence });
  }

  get connectTimeoutMs(): number {
    return this.spec.connectTimeoutMs;
  }
  get sendProxy(): 'v1' | 'v2' | undefined {
    return this.spec.sendProxy;
  }
  get idleTimeoutMs(): number {
    return this.spec.idleTimeoutMs;
  }
  get retries(): number {
    return this.spec.retries;
  }
  get balance(): BalanceKind {
    return this.spec.balance;
  }
  get listenAddress(): string {
    const h = this.spec.host;
    return h.includes(':') ? `[${h}]:${this.spec.port}` : `${h}:${this.spec.port}`;
  }
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }
  /** The port actually bound (differs from spec.port when it was 0). */
  get boundPort(): number | undefined {
    const a = this.listener?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }
  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Starts listening; rejects (with the OS error) when the address cannot be bound. */
  async listen(): Promise<void> {
    if (this.listener) return;
    this.adoptListener(await this.openListener(this.spec.host, this.spec.port));
  }

  /**
   * Binds a listener for this service without using it yet, so a reload can
   * bind every new address before it changes anything (all or nothing).
   */
  openListener(host: string, port: number): Promise<net.Server> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        server.close();
        reject(err);
      };
      server.once('error', onError);
      server.listen({ host, port, backlog: 1024 }, () => {
        server.removeListener('error', onError);
        resolve(server);
      });
    });
  }

  /** Starts accepting on `server` (from openListener), closing the previous listener if any. */
  adoptListener(server: net.Server): void {
    const previous = this.listener;
    server.on('connection', (socket: net.Socket) => this.accept(socket));
    server.on('error', (err) => this.logger.error('listener error', { error: err.message }));
    this.listener = server;
    if (previous) previous.close();
    this.logger.info('listening', { listen: this.listenAddress, balance: this.spec.balance });
  }

  /**
   * Stops accepting new clients; open sessions go on. (net.Server's close
   * callback waits for every connection to end, so it is not awaited: the
   * listening socket itself is closed at once.)
   */
  stopListening(): Promise<void> {
    const server = this.listener;
    if (!server) return Promise.resolve();
    this.listener = undefined;
    server.close();
    this.logger.info('stopped listening', { listen: this.listenAddress });
    return Promise.resolve();
  }

  private accept(socket: net.Socket): void {
    this.accepted++;
    new Session(this, socket);
  }

  // ---- SessionHost ----

  acquireServer(session: Session, tried: ReadonlySet<PoolServer> | undefined): PoolServer | undefined {
    // Only `source` hashes the client address; the others must not pay for reading it.
    const server = this.pool.balancer.pick(this.pool.kind === 'source' ? session.clientAddress : '', tried);
    if (server) {
      server.active++;
      server.sessions.add(session);
      this.pool.balancer.onOpen(server);
    }
    return server;
  }

  releaseServer(session: Session, server: PoolServer): void {
    server.active--;
    server.sessions.delete(session);
    this.pool.balancer.onClose(server);
  }

  sessionOpened(session: Session): void {
    this.sessions.add(session);
  }

  sessionClosed(session: Session): void {
    this.sessions.delete(session);
  }

  report(event: SessionEvent, session: Session, detail: string): void {
    if (event === 'no-server') this.refused++;
    const suppressed = this.logLimit.admit(event, performance.now());
    if (suppressed < 0) return;
    const level = SERVER_ERROR_EVENTS.has(event) || event === 'no-server' ? 'warn' : 'info';
    this.logger[level](`session ${event}`, {
      client: session.clientAddress,
      detail,
      suppressed: suppressed > 0 ? suppressed : undefined,
    });
  }

  // ---- control ----

  /** Sets a server's state; returns false for an unknown server. */
  setServerState(name: string, state: ServerState, reason = 'requested'): boolean {
    const server = this.pool.get(name);
    if (!server) return false;
    if (server.state === state) return true;
    const from = server.state;
    server.state = state;
    this.pool.refresh();
    this.logger.debug('server state', { server: name, from, to: state, reason });
    if (state === 'maint') this.closeServerSessions(server, 'maintenance');
    return true;
  }

  /** Names the writer (writer services only); returns false for an unknown server or a non-writer service. */
  setWriter(name: string | null, reason = 'requested'): boolean {
    if (this.pool.kind !== 'writer') return false;
    const balancer = this.pool.balancer as unknown as WriterBalancer<PoolServer>;
    const next = name === null ? undefined : this.pool.get(name);
    if (name !== null && !next) return false;
    const old = balancer.writer();
    if (old === next) return true;
    balancer.setWriter(next);
    this.logger.debug('writer applied', { from: old?.name ?? 'none', to: next?.name ?? 'none', reason });
    if (old && this.spec.writerOnChange === 'close') this.closeServerSessions(old, `writer moved to ${next?.name ?? 'none'}`);
    return true;
  }

  writer(): string | null {
    if (this.pool.kind !== 'writer') return null;
    return (this.pool.balancer as unknown as WriterBalancer<PoolServer>).writer()?.name ?? null;
  }

  /** Closes every session to `server` now. */
  private closeServerSessions(server: PoolServer, reason: string): void {
    const n = server.sessions.size;
    if (n === 0) return;
    for (const s of [...server.sessions]) s.close(reason);
    this.logger.debug('closed sessions', { server: server.name, count: n, reason });
  }

  /**
   * Applies a new spec for this service: servers added, removed (their
   * sessions finish on their own), reweighted, moved; timeouts and retries.
   * A changed balance kind rebuilds the balancer. The listen address is the
   * data plane's business (it needs a new listener first).
   */
  update(spec: ServiceSpec): void {
    const old = this.spec;
    this.spec = spec;
    if (spec.balance !== old.balance) {
      const writer = this.writer();
      this.pool.setKind(spec.balance);
      if (writer !== null && spec.balance === 'writer') this.setWriter(writer, 'reload');
    }
    const wanted = new Set(spec.servers.map((s) => s.name));
    for (const s of [...this.pool.servers]) {
      if (!wanted.has(s.name)) {
        this.pool.removeServer(s.name);
        this.logger.info('server removed', { server: s.name, open_sessions: s.sessions.size });
      }
    }
    for (const s of spec.servers) {
      const existing = this.pool.get(s.name);
      if (!existing) {
        this.pool.addServer(s);
        this.logger.info('server added', { server: s.name, address: `${s.host}:${s.port}`, state: s.initialState ?? 'up' });
        continue;
      }
      if (existing.host !== s.host || existing.port !== s.port) {
        // A new address is a new server: sessions to the old address stay until they end.
        existing.host = s.host;
        existing.port = s.port;
        this.logger.info('server address changed', { server: s.name, address: existing.address });
      }
      existing.backup = s.backup;
      this.pool.setWeight(existing, s.weight);
    }
    this.pool.refresh();
  }

  /** Closes every session now (end of a shutdown grace period). */
  destroySessions(reason: string): number {
    const n = this.sessions.size;
    for (const s of [...this.sessions]) s.close(reason);
    return n;
  }

  counters(): ServiceCounters {
    return {
      name: this.name,
      listen: this.listenAddress,
      balance: this.spec.balance,
      listening: this.listening,
      writer: this.writer(),
      total: this.accepted,
      active: this.sessions.size,
      refused: this.refused,
      servers: this.pool.counters(),
    };
  }
}
