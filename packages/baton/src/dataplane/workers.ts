/**
 * `workers: N` (N >= 2): the relay runs in N cluster worker processes; this
 * side, in the daemon, drives them and keeps what a restarted worker needs.
 *
 * Invariants:
 * - Listening sockets are shared with SCHED_NONE: bound once by the cluster
 *   primary and accepted on by every worker, so a worker's death never
 *   refuses a client while another worker lives.
 * - The pool remembers the specs, every server state and every writer it
 *   sent; a worker (re)started at any time gets all of them in its init, so
 *   every worker sends writes to the same server.
 * - apply() reaches every live worker; if one fails, the ones that succeeded
 *   get the previous specs back, so no worker runs a half-applied config.
 * - Round robin uses one sequence per service in shared memory (a slot per
 *   service name for the daemon's life), so it holds across workers.
 * - Connection limits count in the same shared memory (a slot per service
 *   and per service/server for the daemon's life), taken with a
 *   compare-and-swap, so a server's limit holds for the whole daemon. What a
 *   worker held when it died is given back before it is forked again.
 * - A worker that exits unexpectedly is logged and forked again, the delay
 *   doubling from 100 ms to 5 s and resetting after 10 s of stable running.
 *   Its last reported counters are folded into a base, so the sums never go
 *   backwards.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { BatonError, describeError, type Logger, type LogLevel } from '@baton/core';
import type { ApplyResult, ServerState, ServiceCounters, ServiceSpec, WriterSwitchOp } from '@baton/proxy';
import { addCounters, type DataPlaneHost } from './host.js';
import { LIMIT_SLOTS, SEQUENCE_BYTES, SEQUENCE_SLOTS, WORKER_ENTRY, limitCells, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { createSharedSequences, mapSharedSequences } from './sequence.js';
import { reclaimWorker, relayEngine } from '@baton/proxy';
import { SharedListeners } from './listen-fds.js';

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
const STABLE_RUN_MS = 10_000;
/** How long a counters request waits for a worker before its last report is used. */
const COUNTERS_TIMEOUT_MS = 1000;
/** A worker's apply (binding sockets) must answer within this. */
const APPLY_TIMEOUT_MS = 10_000;

interface Pending {
  resolve(msg: FromWorker): void;
  timer: NodeJS.Timeout;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  /** Set once the worker applied its init; until then it gets no other messages. */
  ready: boolean;
  startedAt: number;
  restartDelay: number;
  restartTimer: NodeJS.Timeout | undefined;
  last: ServiceCounters[];
  /** Native engine: the daemon's end of this worker's socket pair, and the addresses it holds. */
  fdSocket: number | undefined;
  have: Set<string>;
}

function diffSpecs(before: readonly ServiceSpec[], after: readonly ServiceSpec[]): ApplyResult {
  const old = new Map(before.map((s) => [s.name, JSON.stringify(s)]));
  const next = new Set(after.map((s) => s.name));
  return {
    added: after.filter((s) => !old.has(s.name)).map((s) => s.name),
    removed: before.filter((s) => !next.has(s.name)).map((s) => s.name),
    changed: after.filter((s) => old.has(s.name) && old.get(s.name) !== JSON.stringify(s)).map((s) => s.name),
  };
}

export interface WorkerPoolOptions {
  workers: number;
  logger: Logger;
  logLevel: LogLevel;
  /** Which relay the workers run (default native). */
  engine?: 'native' | 'js';
}

export class WorkerPool implements DataPlaneHost {
  readonly workers: number;
  private readonly logger: Logger;
  private logLevel: LogLevel;
  private readonly slots: Slot[] = [];
  private specs: ServiceSpec[] = [];
  private readonly states = new Map<string, [string, string, ServerState]>();
  private readonly writers = new Map<string, string | null>();
  private readonly sequenceSlots = new Map<string, number>();
  private readonly limitSlots = new Map<string, number>();
  /** The shared memory, mapped here too, to give back a dead worker's connection slots. */
  private readonly cells: Int32Array;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  private forked = false;
  /** Totals left by workers that died. */
  private readonly base = new Map<string, ServiceCounters>();
  private readonly sequenceFd: number;
  readonly engine: 'native' | 'js';
  /** Native engine: the listening sockets, bound here once for every worker. */
  private readonly listeners = new SharedListeners();

  constructor(options: WorkerPoolOptions) {
    this.workers = options.workers;
    this.logger = options.logger.child({ subsystem: 'workers' });
    this.logLevel = options.logLevel;
    this.sequenceFd = createSharedSequences(SEQUENCE_BYTES);
    this.cells = mapSharedSequences(this.sequenceFd, SEQUENCE_BYTES).cells;
    this.engine = options.engine ?? 'native';
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({
      exec: fileURLToPath(WORKER_ENTRY),
      args: [],
      // stdin closed, logs to the daemon's own stdout/stderr, IPC, then the shared sequences.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', this.sequenceFd],
    });
    for (let i = 0; i < this.workers; i++) {
      this.slots.push({ index: i, worker: undefined, ready: false, startedAt: 0, restartDelay: RESTART_MIN_MS, restartTimer: undefined, last: [], fdSocket: undefined, have: new Set() });
    }
  }

  /** Every live worker takes it now (in order with the other messages); a worker forked later gets it in its init. */
  setLogLevel(level: LogLevel): void {
    if (level === this.logLevel) return;
    this.logLevel = level;
    this.broadcast({ t: 'log-level', level });
  }

  private slotsFor(specs: readonly ServiceSpec[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const spec of specs) {
      let slot = this.sequenceSlots.get(spec.name);
      if (slot === undefined && this.sequenceSlots.size < SEQUENCE_SLOTS) {
        slot = this.sequenceSlots.size;
        this.sequenceSlots.set(spec.name, slot);
      }
      if (slot !== undefined) out[spec.name] = slot;
    }
    return out;
  }

  /**
   * Slots of the connection counts: one per service and per service/server
   * with a limit, kept for the daemon's life (a limit removed and set again
   * finds its count). Past LIMIT_SLOTS a key gets none and is counted per
   * worker; that is logged.
   */
  private limitSlotsFor(specs: readonly ServiceSpec[]): Record<string, number> {
    const out: Record<string, number> = {};
    const give = (key: string) => {
      let slot = this.limitSlots.get(key);
      if (slot === undefined && this.limitSlots.size < LIMIT_SLOTS) {
        slot = this.limitSlots.size;
        this.limitSlots.set(key, slot);
      }
      if (slot === undefined) this.logger.warn('too many connection limits to share between workers; this one is counted per worker', { key });
      else out[key] = slot;
    };
    for (const spec of specs) {
      if (spec.maxConnections || this.limitSlots.has(spec.name)) give(spec.name);
      for (const s of spec.servers) {
        const key = `${spec.name}/${s.name}`;
        if (s.maxConnections || this.limitSlots.has(key)) give(key);
      }
    }
    return out;
  }

  /** First apply: forks every worker with the specs. Later applies go to the live workers. */
  async apply(specs: readonly ServiceSpec[]): Promise<ApplyResult> {
    const previous = this.specs;
    const slots = this.slotsFor(specs);
    if (this.engine === 'native') await this.listeners.ensure(specs);
    if (!this.forked) {
      this.forked = true;
      this.specs = [...specs];
      const results = await Promise.all(this.slots.map((slot) => this.fork(slot)));
      const failed = results.find((r) => r.error);
      if (failed?.error) {
        this.specs = previous;
        this.pruneListeners();
        throw new BatonError('listen-failed', failed.error.message);
      }
      return results[0]?.result ?? { added: specs.map((s) => s.name), removed: [], changed: [] };
    }
    const live = this.slots.filter((s) => s.worker && s.ready);
    if (live.length === 0) {
      // Every worker is being restarted: they start with these specs.
      this.specs = [...specs];
      this.prune();
      this.pruneListeners();
      return diffSpecs(previous, specs);
    }
    const answers = await Promise.all(live.map((slot) => this.request(slot, { t: 'apply', id: 0, specs: [...specs], slots, limitSlots: this.limitSlotsFor(specs), listeners: this.sendListeners(slot, specs) }, APPLY_TIMEOUT_MS)));
    const failed = answers.find((a) => a?.t !== 'done' || a.error);
    if (failed) {
      const ok = live.filter((_, i) => answers[i]?.t === 'done' && !(answers[i] as { error?: unknown }).error);
      await Promise.all(ok.map((slot) => this.request(slot, { t: 'apply', id: 0, specs: previous, slots: this.slotsFor(previous), limitSlots: this.limitSlotsFor(previous), listeners: this.sendListeners(slot, previous) }, APPLY_TIMEOUT_MS)));
      this.pruneListeners();
      const message = failed?.t === 'done' && failed.error ? failed.error.message : 'a worker did not answer';
      throw new BatonError('listen-failed', message);
    }
    this.specs = [...specs];
    this.prune();
    this.pruneListeners();
    const first = answers[0];
    return first?.t === 'done' && first.result ? first.result : { added: [], removed: [], changed: [] };
  }

  /** Native engine: queues on the worker's socket pair the listening descriptors it lacks for `specs`; returns their addresses. */
  private sendListeners(slot: Slot, specs: readonly ServiceSpec[]): string[] {
    if (this.engine !== 'native' || slot.fdSocket === undefined) return [];
    try {
      return this.listeners.send(slot.fdSocket, slot.have, specs);
    } catch (err) {
      // The worker then binds itself and reports the failure in its answer.
      this.logger.error('cannot pass listening sockets to worker', { index: slot.index, error: describeError(err) });
      return [];
    }
  }

  /** Native engine: closes the listening sockets the running specs no longer use. */
  private pruneListeners(): void {
    if (this.engine === 'native') this.listeners.prune(this.specs, this.slots.map((s) => s.have));
  }

  /** Forgets states and writers of services and servers the specs no longer have. */
  private prune(): void {
    const names = new Map(this.specs.map((s) => [s.name, new Set(s.servers.map((x) => x.name))]));
    for (const [key, [service, server]] of this.states) if (!names.get(service)?.has(server)) this.states.delete(key);
    for (const service of this.writers.keys()) if (!names.has(service)) this.writers.delete(service);
  }

  setServerState(service: string, server: string, state: ServerState, reason: string): void {
    this.states.set(`${service}\0${server}`, [service, server, state]);
    this.broadcast({ t: 'state', service, server, state, reason });
  }

  setWriter(service: string, server: string | null, reason: string): void {
    this.writers.set(service, server);
    this.broadcast({ t: 'writer', service, server, reason });
  }

  writerSwitch(service: string, step: WriterSwitchOp): void {
    // Not remembered for restarted workers: a worker that starts mid-switch holds nothing and names the writer it is told.
    this.broadcast({ t: 'switch', service, step });
  }

  async counters(): Promise<ServiceCounters[]> {
    const live = this.slots.filter((s) => s.worker && s.ready);
    await Promise.all(
      live.map(async (slot) => {
        const answer = await this.request(slot, { t: 'counters', id: 0 }, COUNTERS_TIMEOUT_MS);
        if (answer?.t === 'counters') slot.last = answer.services;
      }),
    );
    const sum = new Map<string, ServiceCounters>();
    for (const slot of this.slots) if (slot.worker) addCounters(sum, slot.last, true);
    addCounters(sum, [...this.base.values()], false);
    // Service order as configured.
    return this.specs.map((s) => sum.get(s.name)).filter((s): s is ServiceCounters => s !== undefined);
  }

  async activeSessions(): Promise<number> {
    return (await this.counters()).reduce((n, s) => n + s.active, 0);
  }

  async shutdown(graceMs: number): Promise<number> {
    this.stopping = true;
    // No new clients queue on sockets no worker will accept from.
    this.listeners.closeAll();
    const live = this.slots.filter((s) => s.worker);
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const answers = await Promise.all(
      live.map(async (slot) => {
        const worker = slot.worker!;
        const exited = new Promise<void>((resolve) => {
          if (worker.isDead()) resolve();
          else worker.once('exit', () => resolve());
        });
        const answer = await this.request(slot, { t: 'shutdown', id: 0, graceMs }, graceMs + 5000);
        const killTimer = setTimeout(() => worker.process.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(killTimer);
        return answer?.t === 'shutdown-done' ? answer.closed : 0;
      }),
    );
    return answers.reduce((a, b) => a + b, 0);
  }

  private broadcast(msg: ToWorker): void {
    for (const slot of this.slots) if (slot.worker && slot.ready) this.send(slot.worker, msg);
  }

  private send(worker: Worker, msg: ToWorker): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(msg);
    } catch (err) {
      this.logger.warn('cannot reach worker', { worker: worker.id, error: describeError(err) });
    }
  }

  /** Sends a request and resolves with the answer, or undefined after timeoutMs or the worker's death. */
  private request(slot: Slot, msg: Extract<ToWorker, { id: number }>, timeoutMs: number): Promise<FromWorker | undefined> {
    const worker = slot.worker;
    if (!worker || !worker.isConnected()) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      const done = (answer: FromWorker | undefined) => {
        clearTimeout(timer);
        worker.off('exit', onExit);
        this.pending.delete(id);
        resolve(answer);
      };
      const onExit = () => done(undefined);
      worker.once('exit', onExit);
      this.pending.set(id, { resolve: done, timer });
      this.send(worker, { ...msg, id } as ToWorker);
    });
  }

  private onMessage(msg: FromWorker): void {
    if (msg.t === 'hello') return;
    const p = this.pending.get(msg.id);
    if (p) p.resolve(msg);
  }

  private init(slot: Slot): WorkerInit {
    return {
      engine: this.engine,
      listeners: this.sendListeners(slot, this.specs),
      logLevel: this.logLevel,
      specs: this.specs,
      slots: this.slotsFor(this.specs),
      limitSlots: this.limitSlotsFor(this.specs),
      states: [...this.states.values()],
      writers: [...this.writers.entries()],
    };
  }

  private async fork(slot: Slot): Promise<{ result?: ApplyResult; error?: { message: string } }> {
    this.closeFdSocket(slot);
    let childEnd: number | undefined;
    if (this.engine === 'native') {
      [slot.fdSocket, childEnd] = relayEngine().socketpair();
      slot.have = new Set();
    }
    // stdin closed, logs to the daemon's own stdout/stderr, IPC, the shared sequences, then (native) the socket pair.
    cluster.setupPrimary({ stdio: ['ignore', 'inherit', 'inherit', 'ipc', this.sequenceFd, ...(childEnd !== undefined ? [childEnd] : [])] });
    // The level in the environment covers what the worker logs before its init arrives.
    const worker = cluster.fork({ BATON_WORKER_INDEX: String(slot.index), BATON_LOG_LEVEL: this.logLevel });
    // The child has its copy now (dup2 at spawn).
    if (childEnd !== undefined) relayEngine().closeFd(childEnd);
    slot.worker = worker;
    slot.ready = false;
    slot.last = [];
    slot.startedAt = performance.now();
    const hello = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), APPLY_TIMEOUT_MS);
      const onMessage = (msg: FromWorker) => {
        if (msg.t !== 'hello') return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(true);
      };
      worker.on('message', onMessage);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
    // The channel can error when the worker dies mid-send; the exit handler deals with it.
    worker.on('error', (err) => this.logger.debug('worker channel error', { worker: worker.id, error: describeError(err) }));
    if (!(await hello)) {
      this.abandon(slot, worker);
      return { error: { message: 'worker did not start' } };
    }
    const answer = await this.request(slot, { t: 'init', id: 0, init: this.init(slot) }, APPLY_TIMEOUT_MS);
    if (answer?.t !== 'done' || answer.error) {
      const message = answer?.t === 'done' && answer.error ? answer.error.message : 'worker did not start';
      this.abandon(slot, worker);
      return { error: { message } };
    }
    if (slot.worker !== worker) return { error: { message: 'worker exited during start' } };
    slot.ready = true;
    // The level, states and writers changed while the init was in flight.
    this.send(worker, { t: 'log-level', level: this.logLevel });
    for (const [service, server, state] of this.states.values()) this.send(worker, { t: 'state', service, server, state, reason: 'worker start' });
    for (const [service, server] of this.writers) this.send(worker, { t: 'writer', service, server, reason: 'worker start' });
    this.logger.info('worker started', { worker: worker.id, index: slot.index, pid: worker.process.pid });
    return { result: answer.result };
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    addCounters(this.base, slot.last, true);
    for (const svc of this.base.values()) {
      svc.active = 0;
      svc.queued = 0;
      svc.held = 0;
      for (const s of svc.servers) s.active = 0;
    }
    slot.worker = undefined;
    slot.ready = false;
    slot.last = [];
    this.closeFdSocket(slot);
    // Its sessions died with it: give back the connection slots it held.
    reclaimWorker(this.cells, [...this.limitSlots.values()].map((s) => limitCells(s, slot.index)));
    if (this.stopping) return;
    if (performance.now() - slot.startedAt > STABLE_RUN_MS) slot.restartDelay = RESTART_MIN_MS;
    this.logger.error('worker exited, restarting', { worker: worker.id, pid: worker.process.pid, code: code ?? '-', signal: signal ?? '-', restart_in_ms: slot.restartDelay });
    this.scheduleRestart(slot);
  }

  /** Forks the slot's worker again after its backoff delay; a restart that fails is retried the same way. */
  private scheduleRestart(slot: Slot): void {
    const delay = slot.restartDelay;
    slot.restartDelay = Math.min(RESTART_MAX_MS, slot.restartDelay * 2);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping) return;
      void this.fork(slot).then((r) => {
        if (!r.error || this.stopping) return;
        this.logger.error('worker restart failed, retrying', { index: slot.index, error: r.error.message, retry_in_ms: slot.restartDelay });
        this.scheduleRestart(slot);
      });
    }, delay);
  }

  private closeFdSocket(slot: Slot): void {
    if (slot.fdSocket !== undefined) relayEngine().closeFd(slot.fdSocket);
    slot.fdSocket = undefined;
    slot.have = new Set();
  }

  /** A worker that failed to start: the slot forgets it (no restart from its exit) and it is killed. */
  private abandon(slot: Slot, worker: Worker): void {
    if (slot.worker === worker) {
      slot.worker = undefined;
      slot.ready = false;
    }
    worker.process.kill('SIGKILL');
  }
}
