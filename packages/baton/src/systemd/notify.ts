/**
 * systemd readiness (sd_notify(3)) for `Type=notify`: READY=1 once the
 * listeners are bound and VRRP has started, RELOADING=1 (with
 * MONOTONIC_USEC, which systemd 253+ wants for Type=notify-reload) and
 * READY=1 around a reload, STOPPING=1 when the stop begins, and
 * WATCHDOG=1 every half of $WATCHDOG_USEC (the unit's WatchdogSec=) from
 * the main event loop, so a daemon whose loop hangs is restarted.
 *
 * The datagram goes out through native/sd_notify.c (Node has no unix
 * datagram sockets). Without $NOTIFY_SOCKET every call does nothing, so the
 * daemon runs the same outside systemd.
 *
 * Invariants: a failed send is logged once per message kind and never
 * throws into the daemon: readiness reporting must not stop a load balancer.
 */
import { createRequire } from 'node:module';
import { describeError, type Logger } from '@baton/core';

interface SdNotifyAddon {
  send(path: string, message: string): void;
}

let addon: SdNotifyAddon | undefined;
function load(): SdNotifyAddon {
  // Compiled to dist/src/systemd/, the addon is in build/Release/ of the package.
  addon ??= createRequire(import.meta.url)('../../../build/Release/sd_notify.node') as SdNotifyAddon;
  return addon;
}

export interface SystemdNotifier {
  /** Whether $NOTIFY_SOCKET was set (the daemon runs under Type=notify). */
  readonly enabled: boolean;
  ready(status?: string): void;
  reloading(): void;
  stopping(): void;
  /** Starts the WATCHDOG=1 pings when systemd asked for them (for this PID); idempotent. */
  startWatchdog(): void;
}

/** The ping interval systemd asks for: half of WATCHDOG_USEC, when WATCHDOG_PID (if set) is ours. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** CLOCK_MONOTONIC in microseconds: libuv's hrtime reads CLOCK_MONOTONIC on Linux. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export function createSystemdNotifier(logger: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
  const path = env.NOTIFY_SOCKET;
  if (!path) return { enabled: false, ready() {}, reloading() {}, stopping() {}, startWatchdog() {} };
  let watchdog: NodeJS.Timeout | undefined;
  const failed = new Set<string>();
  const send = (kind: string, message: string): void => {
    try {
      load().send(path, message);
    } catch (err) {
      if (failed.has(kind)) return;
      failed.add(kind);
      logger.warn('systemd notify failed', { message: kind, socket: path, error: describeError(err) });
    }
  };
  return {
    enabled: true,
    ready(status) {
      send('READY', status ? `READY=1\nSTATUS=${status}` : 'READY=1');
    },
    reloading() {
      send('RELOADING', `RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
    },
    stopping() {
      send('STOPPING', 'STOPPING=1');
    },
    startWatchdog() {
      const everyMs = watchdogIntervalMs(env);
      if (everyMs === undefined || watchdog) return;
      // unref: the pings never keep a stopping daemon alive.
      watchdog = setInterval(() => send('WATCHDOG', 'WATCHDOG=1'), everyMs).unref();
      logger.info('systemd watchdog armed', { interval_ms: everyMs });
    },
  };
}
