/**
 * One client session on the native engine: the same policy as the
 * JavaScript relay (relay.ts), with the bytes moved in C. This class only
 * decides: which server (asked of the SessionHost, i.e. the service's pool
 * and balancer), whether to retry, what to count; the engine connects,
 * relays, half-closes and times out.
 *
 * Invariants:
 * - The server is asked for synchronously at accept and after each failed
 *   connect; a retry is invisible to the client (the engine reads nothing
 *   from it before a connect succeeds).
 * - Counters are settled exactly once, at the engine's `closed` event:
 *   bytes each way, and a session error for an error or idle timeout after
 *   the server accepted.
 * - One client, at most one report of its connect (as relay.ts): failed
 *   attempts are collected and reported with the outcome.
 * - A server given by hostname is connected to by the address it resolved
 *   to (see resolve.ts); the first connect may wait for that lookup.
 * - When every server it may have is full, the client waits in its
 *   service's queue (the host decides); the engine reads nothing from it
 *   meanwhile, and the host hands it a server with dispatch().
 */
import type { PoolServer, PooledSession } from '../pool.js';
import type { QueuedSession, SessionEvent, SessionHost } from '../relay.js';
import { engine, trackSession, type EngineSession } from './addon.js';
import { lookupHost, resolvedHost } from './resolve.js';

/** The engine's close reasons that are errors of an established session. */
const ERROR_REASONS = new Set(['client-error', 'server-error', 'idle-timeout', 'internal-error']);

export class NativeSession implements PooledSession, EngineSession, QueuedSession {
  server: PoolServer | undefined;
  isConnected = false;
  private tried: Set<PoolServer> | undefined;
  /** Failed connect attempts (`server address: detail`), reported with the outcome. */
  private failures: string[] | undefined;
  private lastFailure: 'connect-failed' | 'connect-timeout' = 'connect-failed';
  done = false;
  /** Time spent in the service's queue. */
  private queueMs = 0;
  /** log_sessions only: when the session was accepted, and when its server accepted. */
  private readonly startedAt: number;
  private connectedAt = 0;

  constructor(
    private readonly host: SessionHost,
    readonly id: number,
    readonly clientAddress: string,
  ) {
    this.startedAt = host.logSessions ? performance.now() : 0;
    trackSession(id, this);
    host.sessionOpened(this);
    this.attempt();
  }

  get liveBytesIn(): number {
    return this.isConnected ? (engine().bytes(this.id)?.[0] ?? 0) : 0;
  }

  get liveBytesOut(): number {
    return this.isConnected ? (engine().bytes(this.id)?.[1] ?? 0) : 0;
  }

  close(reason: string): void {
    engine().closeSession(this.id, reason);
  }

  get triedServers(): ReadonlySet<PoolServer> | undefined {
    return this.tried;
  }

  /** Picks servers until a connect is under way, the client is queued, or it is refused. */
  private attempt(): void {
    for (;;) {
      if (this.done) return;
      const server = this.host.acquireServer(this, this.tried);
      if (!server) {
        if (this.host.enqueue(this)) return;
        this.host.report('no-server', this, this.tried ? `all ${this.tried.size} tried servers failed: ${this.attempts()}` : 'no server available');
        this.close('no server');
        return;
      }
      if (this.start(server)) return;
      if (!this.retryAllowed()) return;
    }
  }

  dispatch(server: PoolServer, waitedMs: number): void {
    this.queueMs += waitedMs;
    if (this.start(server)) return;
    if (this.retryAllowed()) this.attempt();
  }

  timeOut(waitedMs: number): void {
    this.queueMs += waitedMs;
    this.close('queue timeout');
  }

  /** Starts connecting to `server` (already acquired); false when that failed at once (counted). */
  private start(server: PoolServer): boolean {
    this.server = server;
    const ip = resolvedHost(server.host);
    if (ip === undefined) {
      // First use of this hostname: connect once it resolved.
      lookupHost(server.host).then(
        (addr) => this.dialResolved(server, addr, undefined),
        (err: NodeJS.ErrnoException) => this.dialResolved(server, undefined, err.code ?? err.message),
      );
      return true;
    }
    return this.dial(server, ip);
  }

  private dialResolved(server: PoolServer, ip: string | undefined, error: string | undefined): void {
    if (this.done || this.server !== server) return;
    if (ip !== undefined && this.dial(server, ip)) return;
    if (ip === undefined) this.attemptFailed('connect-failed', error ?? 'cannot resolve');
    if (this.retryAllowed()) this.attempt();
  }

  /** Starts a connect; false when it failed at once (already counted). */
  private dial(server: PoolServer, ip: string): boolean {
    const h = this.host;
    const err = engine().connect(this.id, ip, server.port, h.connectTimeoutMs, h.idleTimeoutMs, server.sendProxy ?? 0);
    if (err === undefined) return true;
    this.attemptFailed('connect-failed', err);
    return false;
  }

  private attemptFailed(event: 'connect-failed' | 'connect-timeout', detail: string): void {
    const server = this.server!;
    server.connectErrors++;
    this.releaseServer();
    (this.failures ??= []).push(`${server.name} ${server.address}: ${detail}`);
    this.lastFailure = event;
    (this.tried ??= new Set()).add(server);
  }

  /** The failed attempts so far, for the one line that reports them. */
  private attempts(): string {
    return this.failures?.join('; ') ?? '';
  }

  /** After a failed attempt: true when another server may be tried, else the client is refused. */
  private retryAllowed(): boolean {
    if (this.tried!.size > this.host.retries) {
      this.host.report('no-server', this, `gave up after ${this.tried!.size} attempt(s): ${this.attempts()}`);
      this.close('no server');
      return false;
    }
    return true;
  }

  // ---- engine events ----

  connectFailed(timedOut: boolean, detail: string): void {
    this.attemptFailed(timedOut ? 'connect-timeout' : 'connect-failed', detail);
    if (this.retryAllowed()) this.attempt();
  }

  connected(): void {
    this.isConnected = true;
    if (this.startedAt !== 0) this.connectedAt = performance.now();
    this.server!.total++;
    if (this.failures) this.host.report(this.lastFailure, this, `${this.attempts()}; connected to ${this.server!.name}`);
  }

  closed(bytesIn: number, bytesOut: number, reason: string, detail: string): void {
    if (this.done) return;
    this.done = true;
    const failed = this.isConnected && ERROR_REASONS.has(reason);
    if (failed) {
      const event = reason as SessionEvent;
      this.host.report(event, this, reason === 'server-error' ? `${this.server?.name ?? '?'}: ${detail}` : detail);
    }
    const server = this.server;
    if (server) {
      if (this.isConnected) {
        server.bytesIn += bytesIn;
        server.bytesOut += bytesOut;
      }
      if (failed) server.sessionErrors++;
    }
    if (this.startedAt !== 0) {
      const now = performance.now();
      this.host.logSession({
        client: this.clientAddress,
        server: server?.name,
        bytesIn: this.isConnected ? bytesIn : 0,
        bytesOut: this.isConnected ? bytesOut : 0,
        connectMs: this.isConnected ? this.connectedAt - this.startedAt : undefined,
        queueMs: this.queueMs,
        totalMs: now - this.startedAt,
        reason,
        detail,
      });
    }
    this.releaseServer();
    this.host.sessionClosed(this);
  }

  exception(error: unknown): void {
    this.host.report('internal-error', this, error instanceof Error ? (error.stack ?? error.message) : String(error));
  }

  private releaseServer(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.host.releaseServer(this, server);
  }
}
