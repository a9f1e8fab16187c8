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
 * - A held writer service (a planned writer switch) accepts new clients but
 *   keeps their sockets paused in a FIFO, unread and unforwarded, until the
 *   switch releases them (each then becomes a session, in arrival order, to
 *   the writer of that moment) or aborts (they are closed). A held client
 *   that hangs up leaves the queue.
 * - State and writer changes are decisions made elsewhere (health, the
 *   operator, the control plane), logged once there: applying one, in every
 *   worker, is a debug line here.
 */
import type net from 'node:net';
import { RateLimiter, silentLogger, type Logger } from '@baton/core';
import type { BalanceKind, WriterBalancer } from './balancers/balancer.js';
import { Pool, type PoolServer } from './pool.js';
import { Session, type ClientSession, type SessionEvent, type SessionHost } from './relay.js';
import { JsListener, NativeListener, type ServiceListener } from './engine/listener.js';
import { NativeSession } from './engine/session.js';
import { engine, trackSession } from './engine/addon.js';
import type { ServerState, ServiceCounters, ServiceSpec } from './types.js';

export interface ServiceOptions {
  logger?: Logger;
  /** Shared listen handle (e.g. from a parent process); default: listen on spec host:port. */
  listenTarget?: () => net.ListenOptions;
  /** roundrobin: the next number of a sequence shared with this service in other worker processes. */
  sequence?: () => number;
  /** Which relay moves the bytes: the native engine (default) or the JavaScript one. */
  engine?: RelayEngine;
  /** Native engine: a listening descriptor for host:port handed down by the daemon, if any. */
  inheritedListener?: (host: string, port: number) => number | undefined;
}

export type RelayEngine = 'native' | 'js';

const SERVER_ERROR_EVENTS = new Set<SessionEvent>(['connect-failed', 'connect-timeout', 'server-error']);
/** More held clients than this are closed at once rather than queued (bounded memory). */
export const MAX_HELD_CLIENTS = 10_000;

/** Bytes a held client may send before it is closed. */
const MAX_HELD_BYTES = 64 * 1024;

/** A held client: a socket (JavaScript relay) or a session id of the native engine, not yet connected anywhere. */
type HeldClient =
  | { kind: 'js'; socket: net.Socket; chunks: Buffer[]; bytes: number }
  | { kind: 'native'; id: number; address: string };

/** A step of a planned writer switch, as the data plane applies it. */
export type WriterSwitchOp =
  | { op: 'hold' }
  | { op: 'release' }
  | { op: 'abort' }
  /** Closes the sessions still open to `server` (the stragglers after the drain). */
  | { op: 'close'; server: string }
  /** Names the new writer without closing the old one's sessions (they drain). */
  | { op: 'writer'; server: string };

export class Service implements SessionHost {
  readonly name: string;
  spec: ServiceSpec;
  private pool: Pool;
  private listener: ServiceListener | undefined;
  readonly engine: RelayEngine;
  private readonly inheritedListener: ServiceOptions['inheritedListener'];
  private readonly sessions = new Set<ClientSession>();
  private readonly logger: Logger;
  private readonly logLimit = new RateLimiter(5, 10_000);
  private accepted = 0;
  private refused = 0;
  /** Clients accepted while held, oldest first; undefined when not held. */
  private held: HeldClient[] | undefined;

  constructor(spec: ServiceSpec, options: ServiceOptions = {}) {
    this.name = spec.name;
    this.spec = spec;
    this.logger = (options.logger ?? silentLogger).child({ service: spec.name });
    this.pool = new Pool(spec.balance, spec.servers, { sequence: options.sequence });
    this.engine = options.engine ?? 'native';
    this.inheritedListener = options.inheritedListener;
  }

  get connectTimeoutMs(): number {
    return this.spec.connectTimeoutMs;
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
    return this.listener?.port;
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
  openListener(host: string, port: number): Promise<ServiceListener> {
    return this.engine === 'native' ? NativeListener.open(host, port, this.inheritedListener) : JsListener.open(host, port);
  }

  /** Starts accepting on `server` (from openListener), closing the previous listener if any. */
  adoptListener(server: ServiceListener): void {
    const previous = this.listener;
    if (server instanceof NativeListener) {
      server.start((id, address) => {
        this.accepted++;
        const held = this.held;
        if (!held) {
          new NativeSession(this, id, address);
          return;
        }
        if (held.length >= MAX_HELD_CLIENTS) {
          engine().closeSession(id, 'too many held clients');
          return;
        }
        this.holdNative(held, id, address);
      });
    } else if (server instanceof JsListener) {
      server.server.on('connection', (socket: net.Socket) => this.accept(socket));
      server.server.on('error', (err) => this.logger.error('listener error', { error: err.message }));
    }
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
    const held = this.held;
    if (held) {
      if (held.length >= MAX_HELD_CLIENTS) {
        socket.destroy();
        return;
      }
      this.holdSocket(held, socket);
      return;
    }
    new Session(this, socket);
  }

  /**
   * Queues a client. It is read (so a hang-up is seen), but what it sends is
   * only kept, up to MAX_HELD_BYTES, and given back to the socket on release.
   * A client that ends or errors while held leaves the queue.
   */
  private holdSocket(held: HeldClient[], socket: net.Socket): void {
    const entry: HeldClient = { kind: 'js', socket, chunks: [], bytes: 0 };
    held.push(entry);
    const leave = () => {
      const i = held.indexOf(entry);
      if (i >= 0) held.splice(i, 1);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
      if (entry.bytes > MAX_HELD_BYTES) return leave();
      entry.chunks.push(chunk);
    });
    socket.once('end', leave);
    socket.once('error', leave);
    socket.once('close', leave);
    socket.resume();
  }

  /**
   * Queues a native-engine client: the engine reads nothing from a client
   * before it is told to connect, so holding is not connecting yet. If the
   * engine reports the client gone meanwhile, it leaves the queue.
   */
  private holdNative(held: HeldClient[], id: number, address: string): void {
    const entry: HeldClient = { kind: 'native', id, address };
    held.push(entry);
    trackSession(id, {
      connected: () => {},
      connectFailed: () => {},
      exception: () => {},
      closed: () => {
        const i = held.indexOf(entry);
        if (i >= 0) held.splice(i, 1);
      },
    });
  }

  /** Clients held now. */
  get heldClients(): number {
    return this.held?.length ?? 0;
  }

  /** Applies one step of a planned writer switch; returns the number of clients or sessions it touched. */
  writerSwitch(step: WriterSwitchOp): number {
    switch (step.op) {
      case 'hold':
        this.held ??= [];
        return 0;
      case 'release':
      case 'abort': {
        // A copy: closing a native entry reports it closed at once, which takes it out of the live queue.
        const queue = [...(this.held ?? [])];
        this.held = undefined;
        let n = 0;
        for (const entry of queue) {
          if (entry.kind === 'native') {
            n++;
            if (step.op === 'abort') engine().closeSession(entry.id, 'writer switch aborted');
            else new NativeSession(this, entry.id, entry.address);
            continue;
          }
          const { socket, chunks } = entry;
          if (socket.destroyed) continue;
          for (const ev of ['data', 'end', 'error', 'close']) socket.removeAllListeners(ev);
          n++;
          if (step.op === 'abort') {
            socket.destroy();
            continue;
          }
          socket.pause();
          // What the client sent while held goes first, in order.
          for (let i = chunks.length - 1; i >= 0; i--) socket.unshift(chunks[i]!);
          new Session(this, socket);
        }
        return n;
      }
      case 'close': {
        const server = this.pool.get(step.server);
        if (!server) return 0;
        const n = server.sessions.size;
        this.closeServerSessions(server, 'writer switch: drain time over');
        return n;
      }
      case 'writer': {
        if (this.pool.kind !== 'writer') return 0;
        const next = this.pool.get(step.server);
        if (!next) return 0;
        (this.pool.balancer as unknown as WriterBalancer<PoolServer>).setWriter(next);
        return 0;
      }
    }
  }

  // ---- SessionHost ----

  acquireServer(session: ClientSession, tried: ReadonlySet<PoolServer> | undefined): PoolServer | undefined {
    // Only `source` hashes the client address; the others must not pay for reading it.
    const server = this.pool.balancer.pick(this.pool.kind === 'source' ? session.clientAddress : '', tried);
    if (server) {
      server.active++;
      server.sessions.add(session);
      this.pool.balancer.onOpen(server);
    }
    return server;
  }

  releaseServer(session: ClientSession, server: PoolServer): void {
    server.active--;
    server.sessions.delete(session);
    this.pool.balancer.onClose(server);
  }

  sessionOpened(session: ClientSession): void {
    this.sessions.add(session);
  }

  sessionClosed(session: ClientSession): void {
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
      existing.sendProxy = s.sendProxy ?? 0;
      this.pool.setWeight(existing, s.weight);
    }
    this.pool.refresh();
  }

  /** Closes every session now (end of a shutdown grace period). */
  destroySessions(reason: string): number {
    this.writerSwitch({ op: 'abort' });
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
      held: this.heldClients,
      servers: this.pool.counters(),
    };
  }
}
