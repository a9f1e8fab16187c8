/**
 * A service's listening socket, for either relay: a net.Server for the
 * JavaScript relay, a descriptor owned by the native engine otherwise.
 *
 * Invariants:
 * - open*() binds and listens at once (the kernel queues clients from then
 *   on) but nothing is accepted before start(): a reload can bind every new
 *   address first and give them all up if one fails.
 * - close() closes the socket once; clients still queued on a socket the
 *   process got from elsewhere (a descriptor handed down by the daemon) stay
 *   queued there for the other processes accepting on it.
 */
import net from 'node:net';
import { addListener, engine, removeListener } from './addon.js';
import { lookupHost } from './resolve.js';

export const LISTEN_BACKLOG = 1024;

export interface ServiceListener {
  /** The port bound (differs from the spec's when it was 0). */
  readonly port: number | undefined;
  readonly listening: boolean;
  /** Stops (true) or resumes (false) accepting; clients wait in the kernel's backlog meanwhile. */
  pause(paused: boolean): void;
  close(): void;
}

export class JsListener implements ServiceListener {
  constructor(readonly server: net.Server) {}

  static open(host: string, port: number): Promise<JsListener> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        server.close();
        reject(err);
      };
      server.once('error', onError);
      server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        server.removeListener('error', onError);
        resolve(new JsListener(server));
      });
    });
  }

  get port(): number | undefined {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** The JavaScript relay has no client limit (config rules refuse one), so it never pauses. */
  pause(_paused: boolean): void {}

  close(): void {
    this.server.close();
  }
}

export class NativeListener implements ServiceListener {
  private id: number | undefined;
  private fd: number | undefined;
  readonly port: number | undefined;

  private constructor(fd: number) {
    this.fd = fd;
    this.port = engine().localPort(fd);
  }

  /**
   * Binds host:port, or, when `inherited` gives a descriptor for it (a
   * socket the daemon bound for every worker), uses a copy of that one.
   */
  static async open(host: string, port: number, inherited?: (host: string, port: number) => number | undefined): Promise<NativeListener> {
    const e = engine();
    const shared = inherited?.(host, port);
    if (shared !== undefined) return new NativeListener(e.dupFd(shared));
    const ip = await lookupHost(host);
    return new NativeListener(e.bind(ip, port, LISTEN_BACKLOG));
  }

  get listening(): boolean {
    return this.fd !== undefined;
  }

  start(onAccept: (session: number, address: string) => void): void {
    if (this.fd === undefined || this.id !== undefined) return;
    this.id = addListener(this.fd, onAccept);
    if (this.paused) engine().pauseAccept(this.id, true);
  }

  private paused = false;

  pause(paused: boolean): void {
    this.paused = paused;
    if (this.id !== undefined) engine().pauseAccept(this.id, paused);
  }

  close(): void {
    if (this.fd === undefined) return;
    if (this.id !== undefined) removeListener(this.id);
    else engine().closeFd(this.fd);
    this.fd = undefined;
    this.id = undefined;
  }
}
