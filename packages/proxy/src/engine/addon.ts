/**
 * The native relay engine (packages/proxy/native, built at install into
 * build/Release/relay_engine.node) as JavaScript sees it: one engine per
 * process, on the process's own event loop.
 *
 * Invariants:
 * - Events arrive per session, never per chunk: accept, connected, connect
 *   failed, closed. They are routed here by listener id (accept) and by
 *   session id (the rest), so each service sees only its own.
 * - A handler that throws never unwinds through C: the engine clears the
 *   exception, passes it to `exception` below and closes that session.
 * - Loading fails with a clear error when the addon is not built; nothing
 *   else is touched.
 */
import { createRequire } from 'node:module';

export interface EngineAddon {
  init(callbacks: {
    accept(session: number, listener: number, address: string): void;
    connected(session: number): void;
    connectFailed(session: number, timedOut: boolean, detail: string): void;
    closed(session: number, bytesIn: number, bytesOut: number, reason: string, detail: string): void;
    exception(error: unknown, session: number): void;
  }): void;
  bind(host: string, port: number, backlog: number): number;
  listen(fd: number): number;
  closeListener(id: number): boolean;
  pauseAccept(id: number, paused: boolean): void;
  localPort(fd: number): number;
  connect(session: number, ip: string, port: number, connectMs: number, idleMs: number, proxy: number): string | undefined;
  closeSession(session: number, reason: string): boolean;
  bytes(session: number): [number, number] | undefined;
  stats(): { sessions: number; pipesInUse: number; pipesIdle: number; listeners: number };
  socketpair(): [number, number];
  sendFds(socket: number, fds: number[]): void;
  recvFds(socket: number): number[];
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  proxyHeaderLocal(version: 1 | 2): Buffer;
}

/** What the engine reports about one session. */
export interface EngineSession {
  connected(): void;
  connectFailed(timedOut: boolean, detail: string): void;
  closed(bytesIn: number, bytesOut: number, reason: string, detail: string): void;
  /** A handler of this session threw; the engine closes it next. */
  exception(error: unknown): void;
}

export type AcceptHandler = (session: number, address: string) => void;

const listeners = new Map<number, AcceptHandler>();
const sessions = new Map<number, EngineSession>();
let addon: EngineAddon | undefined;
let loadError: Error | undefined;
/** Errors not tied to a session (accept failures); set by the data plane's owner. */
let onEngineError: (error: unknown) => void = (error) => console.error('relay engine:', error);

/** The path of the addon, relative to this module once compiled (dist/src/engine/). */
const ADDON_PATH = '../../../build/Release/relay_engine.node';

/** The engine, loaded and initialised on first use; throws when it is not built. */
export function engine(): EngineAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  try {
    const loaded = createRequire(import.meta.url)(process.env.BATON_ENGINE_ADDON ?? ADDON_PATH) as EngineAddon;
    loaded.init({
      accept(session, listener, address) {
        const handler = listeners.get(listener);
        if (handler) handler(session, address);
        else loaded.closeSession(session, 'no listener');
      },
      connected(session) {
        sessions.get(session)?.connected();
      },
      connectFailed(session, timedOut, detail) {
        sessions.get(session)?.connectFailed(timedOut, detail);
      },
      closed(session, bytesIn, bytesOut, reason, detail) {
        const s = sessions.get(session);
        sessions.delete(session);
        s?.closed(bytesIn, bytesOut, reason, detail);
      },
      exception(error, session) {
        const s = sessions.get(session);
        if (s) s.exception(error);
        else onEngineError(error);
      },
    });
    addon = loaded;
    return loaded;
  } catch (err) {
    loadError = new Error(`the native relay engine is not available (${(err as Error).message}); build it with npm install or use engine: js`, { cause: err });
    throw loadError;
  }
}

/** True when the native engine can be loaded here. */
export function engineAvailable(): boolean {
  try {
    engine();
    return true;
  } catch {
    return false;
  }
}

export function setEngineErrorHandler(handler: (error: unknown) => void): void {
  onEngineError = handler;
}

/** Starts accepting on a listening descriptor (the engine owns it from now on); returns the listener id. */
export function addListener(fd: number, onAccept: AcceptHandler): number {
  const id = engine().listen(fd);
  listeners.set(id, onAccept);
  return id;
}

export function removeListener(id: number): void {
  listeners.delete(id);
  addon?.closeListener(id);
}

/** Routes a session's events to `s` (call inside the accept handler, before connecting). */
export function trackSession(id: number, s: EngineSession): void {
  sessions.set(id, s);
}
