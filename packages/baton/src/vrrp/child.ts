/**
 * Entry of the VRRP child process the daemon forks (VrrpSubsystem). The
 * routers run here, on an event loop no relayed byte ever touches, so a
 * saturated data plane cannot make an advert late.
 *
 * Invariants:
 * - Logs go to the daemon as records (one log stream); once the daemon is
 *   gone they go to stdout directly.
 * - When the IPC channel closes (the daemon exited or was killed), every
 *   router shuts down at once (priority 0, VIPs removed) and the process
 *   exits: a VIP is never held for a dead data plane.
 * - Signals are the daemon's to act on: the whole process group gets
 *   SIGTERM/SIGINT from a service manager or a terminal (SIGHUP, SIGUSR2 from
 *   `systemctl kill`), and the daemon, which logs it, then stops this process
 *   over IPC after the routers' orderly shutdown (or asks for a reload, or
 *   for the stats). Here each is ignored with a debug line.
 * - Records below the config's log_level (sent with every apply) are
 *   dropped here, before they cost an IPC message.
 */
import { createLineLogger, describeError, levelEnabled, type LogFields, type LogLevel, type Logger } from '@baton/core';
import { InstanceHost } from './host.js';
import type { FromChild, ToChild } from './ipc.js';
import { SchedulingState } from './scheduling.js';

/** Where records go once the daemon is gone; its level is the one in force. */
const fallback = createLineLogger();
let connected = typeof process.send === 'function' && process.connected;

function send(msg: FromChild, cb?: () => void): void {
  if (connected && process.send) {
    process.send(msg, undefined, {}, (err) => {
      if (err) connected = false;
      cb?.();
    });
  } else cb?.();
}

function ipcLogger(base: LogFields): Logger {
  const log = (level: LogLevel, message: string, fields?: LogFields) => {
    if (!levelEnabled(fallback.level, level)) return;
    const all = fields ? { ...base, ...fields } : base;
    if (connected) send({ t: 'log', level, message, fields: all });
    else fallback[level](message, all);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => ipcLogger({ ...base, ...fields }),
  };
}

const logger = ipcLogger({});
const scheduling = new SchedulingState(logger);
let snapshotQueued = false;
const host: InstanceHost = new InstanceHost(logger, () => {
  // Coalesce a burst of transitions into one snapshot.
  if (snapshotQueued) return;
  snapshotQueued = true;
  setImmediate(() => {
    snapshotQueued = false;
    send({ t: 'snapshot', instances: host.snapshot() });
  });
});

// Counters move with every advert; the daemon's view is refreshed on a slow beat.
const snapshotTimer = setInterval(() => send({ t: 'snapshot', instances: host.snapshot() }), 1000);
snapshotTimer.unref();

let exiting = false;
function shutdownAndExit(reason: string, id?: number): void {
  if (exiting) return;
  exiting = true;
  if (!connected) logger.warn('vrrp: daemon gone, shutting routers down', { reason });
  void host
    .stop()
    .catch((err: unknown) => logger.error('vrrp shutdown failed', { error: describeError(err) }))
    .then(() => {
      clearInterval(snapshotTimer);
      scheduling.release();
      // Exit only once the answer (and every log record before it) is written to the channel.
      if (id !== undefined && connected) send({ t: 'done', id }, () => process.exit(0));
      else process.exit(0);
    });
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const) {
  process.on(signal, () => logger.debug('signal ignored', { signal, pid: process.pid, reason: 'the vrrp child takes orders from the daemon; signal its main process' }));
}

process.on('disconnect', () => {
  connected = false;
  shutdownAndExit('ipc disconnected');
});

process.on('message', (raw) => {
  const msg = raw as ToChild;
  switch (msg.t) {
    case 'apply':
      fallback.setLevel(msg.logLevel);
      // Before the routers start: their first advert already goes out on time.
      scheduling.apply(msg.scheduling);
      host.setServicesDown(msg.servicesDown);
      host.apply(msg.instances).then(
        (summary) => send({ t: 'done', id: msg.id, summary }),
        (err: unknown) => {
          const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'vrrp-start-failed';
          send({ t: 'done', id: msg.id, error: { code, message: err instanceof Error ? err.message : String(err) } });
        },
      );
      break;
    case 'services':
      host.setServicesDown(msg.down);
      break;
    case 'log-stats':
      host.logStats();
      break;
    case 'stop':
      shutdownAndExit('stop requested', msg.id);
      break;
  }
});

// Started without a daemon (by hand): nothing would ever stop it.
if (!connected) {
  fallback.error('vrrp child: no IPC channel, exiting');
  process.exit(1);
}
