/**
 * A data-plane worker process (cluster worker): runs a DataPlane driven by
 * the daemon over IPC. Listening sockets are shared through the cluster
 * primary (SCHED_NONE: the kernel hands each connection to one of the
 * workers accepting on the same socket), so a worker that dies never closes
 * a listener the others use.
 *
 * Invariants:
 * - Messages are handled strictly in order: each waits for the previous one
 *   (an apply binds asynchronously; the state changes after it must not
 *   overtake it).
 * - Every signal the daemon acts on (SIGTERM, SIGINT, SIGHUP, SIGUSR2) is
 *   ignored here, with a debug line: a signal sent to the whole process
 *   group (Ctrl-C, a service manager, `systemctl kill`) must neither cut
 *   sessions nor kill the worker, and the primary, which gets the same
 *   signal, is the one that acts on it and logs it. The daemon decides and
 *   sends `shutdown`. The daemon's death closes the IPC channel, and the
 *   cluster module then ends the worker.
 * - The log level is the daemon's: from the environment at fork, then from
 *   the init and every `log-level` message. One logger object is kept, so
 *   the services' child loggers follow a change.
 */
import cluster from 'node:cluster';
import { createLineLogger, describeError, isLogLevel, type LineLogger } from '@baton/core';
import { DataPlane, SharedSlotCount, setEngineErrorHandler, type ServiceSpec } from '@baton/proxy';
import { LISTENERS_FD, SEQUENCE_BYTES, SEQUENCE_FD, limitCells, type FromWorker, type ToWorker } from './protocol.js';
import { InheritedListeners } from './listen-fds.js';
import { mapSharedSequences } from './sequence.js';

if (!cluster.isWorker) throw new Error('worker-main is started by the daemon, not directly');

const workerId = cluster.worker!.id;
const envLevel = process.env.BATON_LOG_LEVEL;
const logger: LineLogger = createLineLogger({ level: isLogLevel(envLevel) ? envLevel : 'info' }).child({ worker: workerId });

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const) {
  process.on(signal, () => logger.debug('signal ignored', { signal, pid: process.pid, reason: 'workers take orders from the daemon; signal its main process' }));
}
let slots: Record<string, number> = {};
let limitSlots: Record<string, number> = {};
const { sequence, cells } = mapSharedSequences(SEQUENCE_FD, SEQUENCE_BYTES);
/** This worker's row of the shared connection counts (the daemon gives back what it held if it dies). */
const workerIndex = Number(process.env.BATON_WORKER_INDEX ?? 0);
let dataPlane: DataPlane | undefined;
let engine: 'native' | 'js' = 'native';
/** Native engine: the listening sockets the daemon bound, received on the socket pair. */
const inherited = new InheritedListeners(LISTENERS_FD);

function send(msg: FromWorker): void {
  if (process.connected) process.send!(msg);
}

function plane(): DataPlane {
  dataPlane ??= new DataPlane({
    logger,
    engine,
    // The cluster module shares listeners for the JavaScript relay; the native engine uses the daemon's sockets.
    inheritedListener: engine === 'native' ? (host, port) => inherited.get(host, port) : undefined,
    sequenceFor: (service) => {
      const slot = slots[service];
      return slot === undefined ? undefined : sequence(slot);
    },
    counts: (key) => {
      const slot = limitSlots[key];
      if (slot === undefined) return undefined;
      const [total, mine] = limitCells(slot, workerIndex);
      return new SharedSlotCount(cells, total, mine);
    },
  });
  return dataPlane;
}

/** Applies specs and answers request `id`; true when they were applied. */
async function apply(id: number, specs: ServiceSpec[], listeners: string[]): Promise<boolean> {
  try {
    if (listeners.length > 0) inherited.receive(listeners);
    const result = await plane().apply(specs);
    inherited.prune(specs);
    send({ t: 'done', id, result });
    return true;
  } catch (err) {
    // The running services stay as they were: keep only their listening sockets.
    const running = plane().serviceNames().map((name) => plane().service(name)!.spec);
    inherited.prune(running);
    send({ t: 'done', id, error: { code: 'listen-failed', message: describeError(err) } });
    return false;
  }
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.t) {
    case 'init': {
      logger.setLevel(msg.init.logLevel);
      slots = msg.init.slots;
      limitSlots = msg.init.limitSlots;
      engine = msg.init.engine;
      setEngineErrorHandler((err) => logger.warn('relay engine error', { error: describeError(err) }));
      if (await apply(msg.id, msg.init.specs, msg.init.listeners)) {
        for (const [service, server, state] of msg.init.states) plane().setServerState(service, server, state, 'worker start');
        for (const [service, server] of msg.init.writers) plane().setWriter(service, server, 'worker start');
      }
      return;
    }
    case 'apply':
      slots = { ...slots, ...msg.slots };
      limitSlots = { ...limitSlots, ...msg.limitSlots };
      await apply(msg.id, msg.specs, msg.listeners);
      return;
    case 'state':
      plane().setServerState(msg.service, msg.server, msg.state, msg.reason);
      return;
    case 'writer':
      plane().setWriter(msg.service, msg.server, msg.reason);
      return;
    case 'switch':
      plane().writerSwitch(msg.service, msg.step);
      return;
    case 'log-level':
      logger.setLevel(msg.level);
      return;
    case 'counters':
      send({ t: 'counters', id: msg.id, services: plane().counters() });
      return;
    case 'shutdown': {
      const closed = await plane().shutdown(msg.graceMs);
      // Exit once the answer has left.
      if (process.connected) process.send!({ t: 'shutdown-done', id: msg.id, closed } satisfies FromWorker, () => process.exit(0));
      else process.exit(0);
      return;
    }
  }
}

let queue: Promise<void> = Promise.resolve();
process.on('message', (msg: ToWorker) => {
  queue = queue.then(() => handle(msg)).catch((err: unknown) => logger.error('worker message failed', { error: describeError(err) }));
});
send({ t: 'hello', id: 0 });
