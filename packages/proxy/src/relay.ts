/**
 * One client session: pick a server, connect (retrying other servers on a
 * refused or timed-out connect, invisibly to the client), then relay both
 * directions until both sides are done.
 *
 * Invariants:
 * - The client socket arrives paused (pauseOnConnect), so no client byte is
 *   read before the server connection exists: nothing is buffered in Baton
 *   and a retry needs no replay.
 * - Backpressure both ways: when a destination's buffer is full the source is
 *   paused until 'drain'. Memory per session stays bounded whatever the speed
 *   of either side.
 * - Half-close: each side's FIN is passed on (sockets are allowHalfOpen), so
 *   a client that shuts its write side still gets the whole answer.
 * - Any error or timeout on either side destroys both sockets of this
 *   session and nothing else. Counters are settled exactly once, at close.
 * - One client, at most one report of its connect: failed attempts are
 *   collected and reported together once the outcome is known (`no-server`
 *   when the client is refused, the last failure's event when a retry got
 *   through or the client left first), so a refused client is one log line.
 *
 * Hot path: event handlers are module-level functions reading the session
 * from the socket, so there is no closure per connection and no allocation
 * per chunk; bytes are counted from the sockets' own counters at close
 * instead of per chunk.
 */
import net from 'node:net';
import type { PoolServer, PooledSession } from './pool.js';

/** A client session of either relay (this one, or the native engine's), as its service sees it. */
export interface ClientSession extends PooledSession {
  readonly clientAddress: string;
}

/** What a session needs of its service; implemented by Service. */
export interface SessionHost {
  readonly name: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retries: number;
  /**
   * Picks the next server for this session and counts it open there, or
   * returns undefined; `tried` holds servers already tried.
   */
  acquireServer(session: ClientSession, tried: ReadonlySet<PoolServer> | undefined): PoolServer | undefined;
  /** The session no longer uses `server` (closed, or its connect failed). */
  releaseServer(session: ClientSession, server: PoolServer): void;
  sessionOpened(session: ClientSession): void;
  sessionClosed(session: ClientSession): void;
  /** Reports an event worth a (rate-limited) log line; called at most once per session for its connect. */
  report(event: SessionEvent, session: ClientSession, detail: string): void;
  /**
   * After acquireServer() returned undefined: true when the client was queued
   * instead of refused (a server may take it but has no free slot); it is
   * given a server later with dispatch(), or closed at the queue timeout.
   * Only the native engine's sessions queue.
   */
  enqueue(session: QueuedSession): boolean;
  /** Whether each session's close is logged (`log_sessions`). */
  readonly logSessions: boolean;
  /** The one line of a session's close, when logSessions. */
  logSession(record: SessionRecord): void;
}

/** A session that can wait in its service's queue. */
export interface QueuedSession extends ClientSession {
  /** True once the session closed (it then leaves the queue). */
  readonly done: boolean;
  /** Servers already tried for this client (retries), excluded from its picks. */
  readonly triedServers: ReadonlySet<PoolServer> | undefined;
  /** Leaves the queue for `server` (already acquired), having waited `waitedMs`. */
  dispatch(server: PoolServer, waitedMs: number): void;
  /** Leaves the queue closed: it waited `waitedMs`, longer than the queue timeout. */
  timeOut(waitedMs: number): void;
}

/** What a `log_sessions` line says of one session (HAProxy's tcplog fields). */
export interface SessionRecord {
  client: string;
  server: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** Time from accept until the server accepted (undefined: never connected). */
  connectMs: number | undefined;
  queueMs: number;
  totalMs: number;
  reason: string;
  detail: string;
}

export type SessionEvent =
  | 'no-server'
  | 'connect-failed'
  | 'connect-timeout'
  | 'client-error'
  | 'server-error'
  | 'idle-timeout'
  /** A JavaScript handler of the native engine threw; only that session was closed. */
  | 'internal-error'
  /** A queued client waited longer than queue_timeout and was closed. */
  | 'queue-timeout';

const kSession = Symbol('baton.session');
type Tagged = net.Socket & { [kSession]?: Session };

export class Session implements ClientSession {
  readonly client: Tagged;
  server: PoolServer | undefined;
  upstream: Tagged | undefined;
  private tried: Set<PoolServer> | undefined;
  /** Failed connect attempts (`server address: detail`), reported with the outcome. */
  private failures: string[] | undefined;
  private lastFailure: 'connect-failed' | 'connect-timeout' = 'connect-failed';
  /** True once the server accepted; before that, errors are connect failures. */
  connected = false;
  private closed = false;
  private openSockets = 1;
  /** Set when this session ended with an error; counted once at close. */
  private failed = false;

  constructor(
    private readonly host: SessionHost,
    client: net.Socket,
  ) {
    this.client = client as Tagged;
    this.client[kSession] = this;
    client.on('error', onClientError);
    client.on('close', onSocketClose);
    host.sessionOpened(this);
    this.connectNext();
  }

  /**
   * The client's address. Read on demand (a getpeername syscall): only the
   * `source` balancer and log lines need it, not every connection.
   */
  get clientAddress(): string {
    return this.client.remoteAddress ?? '';
  }

  get liveBytesIn(): number {
    return this.connected ? this.client.bytesRead : 0;
  }

  get liveBytesOut(): number {
    return this.connected ? this.client.bytesWritten : 0;
  }

  /** Closes both sides (maintenance, writer change, shutdown). */
  close(reason: string): void {
    void reason;
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Picks the next server and connects; refuses the client when none is left. */
  private connectNext(): void {
    const server = this.host.acquireServer(this, this.tried);
    if (!server) {
      this.host.report('no-server', this, this.tried ? `all ${this.tried.size} tried servers failed: ${this.attempts()}` : 'no server available');
      this.client.destroy();
      return;
    }
    this.server = server;
    const upstream = net.connect({ host: server.host, port: server.port, allowHalfOpen: true, noDelay: true }) as Tagged;
    upstream[kSession] = this;
    this.upstream = upstream;
    this.openSockets = 2;
    upstream.setTimeout(this.host.connectTimeoutMs);
    upstream.once('connect', onUpstreamConnect);
    upstream.on('timeout', onUpstreamTimeout);
    upstream.on('error', onUpstreamError);
    upstream.on('close', onSocketClose);
  }

  /** A connect attempt failed: count it, and try another server if retries allow. */
  connectFailed(event: 'connect-failed' | 'connect-timeout', detail: string): void {
    const server = this.server!;
    const upstream = this.upstream!;
    server.connectErrors++;
    this.releaseServer();
    upstream.removeListener('close', onSocketClose);
    upstream[kSession] = undefined;
    upstream.destroy();
    this.upstream = undefined;
    this.openSockets = 1;
    (this.failures ??= []).push(`${server.name} ${server.address}: ${detail}`);
    this.lastFailure = event;
    if (this.client.destroyed) {
      this.host.report(event, this, `${this.attempts()}; the client left`);
      this.finish();
      return;
    }
    (this.tried ??= new Set()).add(server);
    if (this.tried.size > this.host.retries) {
      this.host.report('no-server', this, `gave up after ${this.tried.size} attempt(s): ${this.attempts()}`);
      this.client.destroy();
      return;
    }
    this.connectNext();
  }

  /** The failed attempts so far, for the one line that reports them. */
  private attempts(): string {
    return this.failures?.join('; ') ?? '';
  }

  /** The server accepted: start relaying. */
  established(): void {
    const client = this.client;
    const upstream = this.upstream!;
    this.connected = true;
    this.server!.total++;
    if (this.failures) this.host.report(this.lastFailure, this, `${this.attempts()}; connected to ${this.server!.name}`);
    upstream.setTimeout(0);
    upstream.removeListener('timeout', onUpstreamTimeout);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    if (this.host.idleTimeoutMs > 0) {
      client.setTimeout(this.host.idleTimeoutMs);
      client.on('timeout', onIdleTimeout);
    }
    client.on('data', onClientData);
    client.on('end', onClientEnd);
    client.on('drain', onClientDrain);
    upstream.on('data', onUpstreamData);
    upstream.on('end', onUpstreamEnd);
    upstream.on('drain', onUpstreamDrain);
    client.resume();
  }

  fail(event: SessionEvent, detail: string): void {
    if (!this.failed) {
      this.failed = true;
      this.host.report(event, this, detail);
    }
    this.client.destroy();
    this.upstream?.destroy();
  }

  socketClosed(): void {
    if (--this.openSockets > 0) {
      // One side is gone for good: the other cannot be relayed to any more.
      // Let it flush what it has (end), or drop it when it errored.
      const other = this.client.destroyed ? this.upstream : this.client;
      if (other && !other.destroyed && !other.writableEnded) other.end();
      return;
    }
    this.finish();
  }

  private releaseServer(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.host.releaseServer(this, server);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    if (server) {
      if (this.connected) {
        server.bytesIn += this.client.bytesRead;
        server.bytesOut += this.client.bytesWritten;
      }
      if (this.failed) server.sessionErrors++;
      this.releaseServer();
    }
    this.client[kSession] = undefined;
    if (this.upstream) this.upstream[kSession] = undefined;
    this.host.sessionClosed(this);
  }
}

// ---- module-level handlers: `this` is the socket ----

function onUpstreamConnect(this: Tagged): void {
  this[kSession]?.established();
}

function onUpstreamTimeout(this: Tagged): void {
  this[kSession]?.connectFailed('connect-timeout', 'connect timed out');
}

function onUpstreamError(this: Tagged, err: NodeJS.ErrnoException): void {
  const s = this[kSession];
  if (!s) return;
  if (s.upstream === this && !s.connected) s.connectFailed('connect-failed', err.code ?? err.message);
  else s.fail('server-error', `${s.server?.name ?? '?'}: ${err.code ?? err.message}`);
}

function onClientError(this: Tagged, err: NodeJS.ErrnoException): void {
  this[kSession]?.fail('client-error', err.code ?? err.message);
}

function onIdleTimeout(this: Tagged): void {
  this[kSession]?.fail('idle-timeout', 'no traffic in either direction');
}

function onSocketClose(this: Tagged): void {
  this[kSession]?.socketClosed();
}

function onClientData(this: Tagged, chunk: Buffer): void {
  const up = this[kSession]?.upstream;
  if (up && !up.write(chunk)) this.pause();
}

function onUpstreamData(this: Tagged, chunk: Buffer): void {
  const s = this[kSession];
  if (s && !s.client.write(chunk)) this.pause();
}

function onClientDrain(this: Tagged): void {
  this[kSession]?.upstream?.resume();
}

function onUpstreamDrain(this: Tagged): void {
  this[kSession]?.client.resume();
}

function onClientEnd(this: Tagged): void {
  this[kSession]?.upstream?.end();
}

function onUpstreamEnd(this: Tagged): void {
  this[kSession]?.client.end();
}
