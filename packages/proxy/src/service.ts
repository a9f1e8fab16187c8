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
 * - Limits (native engine): a server never has more sessions than its
 *   `maxConnections`, counted daemon-wide. Round robin and leastconn pick
 *   another server when theirs is full; source and writer keep their
 *   client's server. When no server the balancer may pick has a free slot,
 *   the client waits in the service's FIFO queue (accepted, nothing read or
 *   forwarded), and is served in arrival order as soon as a slot frees, a
 *   server comes up or the writer changes; after `queueTimeoutMs` it is
 *   closed and counted. Backup servers do not take overflow: the pool makes
 *   them eligible only while no primary is up, full or not.
 * - At the service's `maxConnections` clients the listener stops accepting,
 *   so new clients wait in the kernel's listen backlog, and resumes below it.
 */
import type net from 'node:net';
import { RateLimiter, silentLogger, type Logger } from '@baton/core';
import type { BalanceKind, WriterBalancer } from './balancers/balancer.js';
import { Pool, type PoolServer } from './pool.js';
import { Session, type ClientSession, type QueuedSession, type SessionEvent, type SessionHost, type SessionRecord } from './relay.js';
import { LocalSlotCount, type SlotCount, type SlotCountSource } from './limits.js';
import { JsListener, NativeListener, type ServiceListener } from './engine/listener.js';
import { NativeSession } from './engine/session.js';
import { engine, trackSession } from './engine/addon.js';
import { QUEUE_WAIT_BUCKETS_S, type QueueWait, type ServerState, type ServiceCounters, type ServiceSpec } from './types.js';

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
  /**
   * Daemon-wide counts for limits, shared with other worker processes, by
   * key (`service` or `service/server`); absent, or undefined for a key:
   * counted in this process. A shared count can drop in another process, so
   * a queue or a paused listener is then also re-checked every POLL_MS.
   */
  counts?: SlotCountSource;
}

export type RelayEngine = 'native' | 'js';

const SERVER_ERROR_EVENTS = new Set<SessionEvent>(['connect-failed', 'connect-timeout', 'server-error']);
/** More held clients than this are closed at once rather than queued (bounded memory). */
export const MAX_HELD_CLIENTS = 10_000;

/** Bytes a held client may send before it is closed. */
const MAX_HELD_BYTES = 64 * 1024;

/** More queued clients than this are refused rather than queued (bounded memory). */
export const MAX_QUEUED_CLIENTS = 10_000;
/** Default queue timeout (HAProxy's `timeout queue` defaults to its connect timeout; a few seconds here). */
export const DEFAULT_QUEUE_TIMEOUT_MS = 5000;
/** With counts shared by worker processes: how often a queue or a paused listener looks again for slots freed elsewhere. */
const POLL_MS = 5;

/**
 * A freed slot goes to the next queued client after this delay, not at once.
 * A session ends when the server's FIN has arrived, but the server may count
 * the connection for a moment longer: MariaDB closes the socket first and
 * lowers its connection count after the thread's cleanup. Measured against
 * a MariaDB with max_connections = 50 and a limit of 40: served at once, the
 * next client's login overlaps that cleanup and Max_used_connections reached
 * 42; one millisecond later it stays at 41 (the limit plus the health
 * check). The cost is at most a millisecond of queue wait per batch of freed slots.
 */
const SLOT_REUSE_DELAY_MS = 1;

interface QueueEntry {
  session: QueuedSession;
  since: number;
}

/** Takes a slot on `server` for a new session; false when its limit is reached. */
function takeSlot(server: PoolServer): boolean {
  const slots = server.slots;
  if (slots === undefined) return true;
  if (server.maxConnections > 0) return slots.take(server.maxConnections);
  slots.add();
  return true;
}

function emptyQueueWait(): QueueWait {
  return { buckets: new Array<number>(QUEUE_WAIT_BUCKETS_S.length + 1).fill(0), sumS: 0, count: 0 };
}

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
  private readonly counts: SlotCountSource | undefined;
  /** Clients waiting for a server slot, oldest first. */
  private readonly queue: QueueEntry[] = [];
  private queueTimer: NodeJS.Timeout | undefined;
  /** Re-checks shared counts while something waits on them (see POLL_MS). */
  private pollTimer: NodeJS.Timeout | undefined;
  private drainScheduled = false;
  /** Set by acquireServer(): its last undefined meant "every server it may pick is full". */
  private full = false;
  private queueTimeouts = 0;
  private readonly queueWait = emptyQueueWait();
  /** Daemon-wide count of this service's clients, once it has had a limit. */
  private clientSlots: SlotCount | undefined;
  /** The listener is paused at the service's client limit. */
  private acceptPaused = false;

  constructor(spec: ServiceSpec, options: ServiceOptions = {}) {
    this.name = spec.name;
    this.spec = spec;
    this.logger = (options.logger ?? silentLogger).child({ service: spec.name });
    this.counts = options.counts;
    this.pool = new Pool(spec.balance, spec.servers, { sequence: options.sequence }, (server) => this.counts?.(`${spec.name}/${server}`));
    this.engine = options.engine ?? 'native';
    this.inheritedListener = options.inheritedListener;
    this.setClientLimit(spec.maxConnections ?? 0);
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
  get logSessions(): boolean {
    return this.spec.logSessions === true;
  }
  private get queueTimeoutMs(): number {
    return this.spec.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
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
    if (this.acceptPaused) server.pause(true);
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
    const pool = this.pool;
    // Only `source` hashes the client address; the others must not pay for reading it.
    const address = pool.kind === 'source' ? session.clientAddress : '';
    let server = pool.balancer.pick(address, tried);
    this.full = false;
    if (server !== undefined && !takeSlot(server)) {
      // Round robin and leastconn move on to a server with room; source and
      // writer keep the client's server, so the client waits for it.
      server = pool.kind === 'roundrobin' || pool.kind === 'leastconn' ? this.pickWithRoom(address, tried, server) : undefined;
      if (server === undefined) {
        this.full = true;
        return undefined;
      }
    }
    if (server) {
      server.active++;
      server.sessions.add(session);
      pool.balancer.onOpen(server);
    }
    return server;
  }

  /** The next pick after `full`, skipping every server found full; its slot is taken. */
  private pickWithRoom(address: string, tried: ReadonlySet<PoolServer> | undefined, full: PoolServer): PoolServer | undefined {
    const skip = new Set(tried);
    for (let server: PoolServer | undefined = full; server !== undefined; server = this.pool.balancer.pick(address, skip)) {
      if (server !== full && takeSlot(server)) return server;
      skip.add(server);
    }
    return undefined;
  }

  releaseServer(session: ClientSession, server: PoolServer): void {
    server.active--;
    server.sessions.delete(session);
    server.slots?.give();
    this.pool.balancer.onClose(server);
    if (this.queue.length > 0) this.scheduleDrain();
  }

  sessionOpened(session: ClientSession): void {
    this.sessions.add(session);
    const slots = this.clientSlots;
    if (slots === undefined) return;
    slots.add();
    if (this.atClientLimit()) this.pauseAccepting(true);
  }

  sessionClosed(session: ClientSession): void {
    this.sessions.delete(session);
    if (this.queue.length > 0) {
      const i = this.queue.findIndex((e) => e.session === session);
      if (i >= 0) this.queue.splice(i, 1);
    }
    const slots = this.clientSlots;
    if (slots === undefined) return;
    slots.give();
    if (this.acceptPaused && !this.atClientLimit()) this.pauseAccepting(false);
  }

  // ---- limits and the queue ----

  enqueue(session: QueuedSession): boolean {
    if (!this.full || this.queue.length >= MAX_QUEUED_CLIENTS) return false;
    this.queue.push({ session, since: performance.now() });
    if (this.queue.length === 1) this.armQueueTimer();
    this.armPoll();
    return true;
  }

  /** Serves the queue a moment after a slot freed (once, however many freed meanwhile): see SLOT_REUSE_DELAY_MS. */
  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setTimeout(() => {
      this.drainScheduled = false;
      this.drain();
    }, SLOT_REUSE_DELAY_MS);
  }

  /**
   * Gives queued clients a server, oldest first. Every client of a round
   * robin, leastconn or writer service sees the same servers, so the first
   * that finds none stops the pass (no overtaking); with source each client
   * has its own server, so the pass goes on past a client whose server is full.
   */
  private drain(): void {
    const q = this.queue;
    const now = performance.now();
    for (let i = 0; i < q.length; ) {
      const entry = q[i]!;
      if (entry.session.done) {
        q.splice(i, 1);
        continue;
      }
      const server = this.acquireServer(entry.session, entry.session.triedServers);
      if (server === undefined) {
        if (this.pool.kind !== 'source') break;
        i++;
        continue;
      }
      q.splice(i, 1);
      const waited = now - entry.since;
      this.observeWait(waited);
      entry.session.dispatch(server, waited);
    }
    if (q.length === 0) {
      clearTimeout(this.queueTimer);
      this.queueTimer = undefined;
    }
    this.armPoll();
  }

  private observeWait(ms: number): void {
    const w = this.queueWait;
    const s = ms / 1000;
    let b = 0;
    while (b < QUEUE_WAIT_BUCKETS_S.length && s > QUEUE_WAIT_BUCKETS_S[b]!) b++;
    w.buckets[b]!++;
    w.sumS += s;
    w.count++;
  }

  /** One timer for the whole queue, due when its oldest client's wait runs out. */
  private armQueueTimer(): void {
    clearTimeout(this.queueTimer);
    this.queueTimer = undefined;
    const head = this.queue[0];
    if (!head) return;
    const due = Math.max(0, head.since + this.queueTimeoutMs - performance.now());
    this.queueTimer = setTimeout(() => this.expireQueue(), due);
    this.queueTimer.unref();
  }

  private expireQueue(): void {
    this.queueTimer = undefined;
    const now = performance.now();
    const limit = this.queueTimeoutMs;
    const expired = this.queue.filter((e) => now - e.since >= limit);
    if (expired.length > 0) {
      const gone = new Set(expired);
      const kept = this.queue.filter((e) => !gone.has(e));
      this.queue.length = 0;
      this.queue.push(...kept);
      for (const e of expired) {
        this.queueTimeouts++;
        this.observeWait(now - e.since);
        this.report('queue-timeout', e.session, `waited ${Math.round(now - e.since)} ms for a server slot`);
        e.session.timeOut(now - e.since);
      }
    }
    this.armQueueTimer();
    this.armPoll();
  }

  private atClientLimit(): boolean {
    const max = this.spec.maxConnections ?? 0;
    return max > 0 && this.clientSlots !== undefined && this.clientSlots.taken >= max;
  }

  private pauseAccepting(paused: boolean): void {
    if (this.acceptPaused === paused) return;
    this.acceptPaused = paused;
    this.listener?.pause(paused);
    this.armPoll();
  }

  /**
   * Shared counts only: while clients are queued or the listener is paused,
   * look again every POLL_MS, since the slot they wait for may be freed by
   * another worker process, which cannot wake this one.
   */
  private armPoll(): void {
    const waiting = this.counts !== undefined && (this.queue.length > 0 || this.acceptPaused);
    if (!waiting) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
      return;
    }
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => {
      if (this.acceptPaused && !this.atClientLimit()) this.pauseAccepting(false);
      if (this.queue.length > 0) this.drain();
      else this.armPoll();
    }, POLL_MS);
    this.pollTimer.unref();
  }

  /** The service's client limit; the first one creates its count, starting at the clients open now. */
  private setClientLimit(limit: number): void {
    if (limit > 0 && !this.clientSlots) {
      const slots = this.counts?.(this.name) ?? new LocalSlotCount();
      for (let i = 0; i < this.sessions.size; i++) slots.add();
      this.clientSlots = slots;
    }
    this.pauseAccepting(this.atClientLimit());
  }

  logSession(r: SessionRecord): void {
    this.logger.info('session closed', {
      client: r.client,
      server: r.server ?? '-',
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
      queue_ms: Math.round(r.queueMs),
      connect_ms: r.connectMs === undefined ? '-' : Math.round(r.connectMs),
      total_ms: Math.round(r.totalMs),
      reason: r.reason,
      detail: r.detail || undefined,
    });
  }

  report(event: SessionEvent, session: ClientSession, detail: string): void {
    if (event === 'no-server') this.refused++;
    const suppressed = this.logLimit.admit(event, performance.now());
    if (suppressed < 0) return;
    const level = SERVER_ERROR_EVENTS.has(event) || event === 'no-server' || event === 'queue-timeout' ? 'warn' : 'info';
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
    if (this.queue.length > 0) this.scheduleDrain();
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
    if (this.queue.length > 0) this.scheduleDrain();
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
      this.pool.setLimit(existing, s.maxConnections ?? 0);
      this.pool.setWeight(existing, s.weight);
    }
    this.pool.refresh();
    this.setClientLimit(spec.maxConnections ?? 0);
    if (this.queue.length > 0) {
      this.armQueueTimer();
      this.scheduleDrain();
    }
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
      maxConnections: this.spec.maxConnections ?? 0,
      queued: this.queue.length,
      queueTimeouts: this.queueTimeouts,
      queueWait: { buckets: [...this.queueWait.buckets], sumS: this.queueWait.sumS, count: this.queueWait.count },
      servers: this.pool.counters(),
    };
  }
}
