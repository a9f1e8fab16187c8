/**
 * The messages between the daemon (cluster primary) and its data-plane
 * workers. Plain JSON over the cluster IPC channel.
 *
 * Invariants: the daemon sends nothing before the worker's `hello`; a worker handles messages strictly in order (an apply that is
 * still binding holds back the state changes sent after it); every request
 * that expects an answer carries an `id` the answer repeats.
 */
import type { ApplyResult, ServerState, ServiceCounters, ServiceSpec, WriterSwitchOp } from '@baton/proxy';
import type { LogLevel } from '@baton/core';

export interface WorkerInit {
  logLevel: LogLevel;
  specs: ServiceSpec[];
  /** service -> slot of its round-robin sequence in the shared memory. */
  slots: Record<string, number>;
  /** `service` or `service/server` -> slot of its connection count in the shared memory (see LIMIT_*). */
  limitSlots: Record<string, number>;
  /** [service, server, state] to assert after the specs are applied. */
  states: [string, string, ServerState][];
  writers: [string, string | null][];
  /** Which relay the worker runs. */
  engine: 'native' | 'js';
  /** Native engine: the addresses whose listening descriptors were queued on the worker's socket pair for this message, in order. */
  listeners: string[];
}

export type ToWorker =
  | { t: 'init'; id: number; init: WorkerInit }
  | { t: 'apply'; id: number; specs: ServiceSpec[]; slots: Record<string, number>; limitSlots: Record<string, number>; listeners: string[] }
  | { t: 'state'; service: string; server: string; state: ServerState; reason: string }
  | { t: 'writer'; service: string; server: string | null; reason: string }
  /** A step of a planned writer switch. */
  | { t: 'switch'; service: string; step: WriterSwitchOp }
  /** The config's log_level (start and reload). */
  | { t: 'log-level'; level: LogLevel }
  | { t: 'counters'; id: number }
  | { t: 'shutdown'; id: number; graceMs: number };

export type FromWorker =
  /** The worker listens for messages now (an ES module's listener is attached late; anything sent before is lost). */
  | { t: 'hello'; id: 0 }
  | { t: 'done'; id: number; result?: ApplyResult; error?: { code: string; message: string } }
  | { t: 'counters'; id: number; services: ServiceCounters[] }
  | { t: 'shutdown-done'; id: number; closed: number };

/**
 * Shared memory, 32-bit cells: first one round-robin sequence per service
 * slot; then, per limit slot (a service's client count or a server's
 * session count), the daemon-wide count; then one row per worker index with
 * what that worker holds of each, so the daemon can give back the slots of
 * a worker that died (limits.ts `reclaimWorker`).
 */
export const SEQUENCE_SLOTS = 4096;
export const LIMIT_SLOTS = 4096;
/** The most workers (config: workers 1-64). */
export const MAX_WORKERS = 64;
export const LIMIT_TOTAL_BASE = SEQUENCE_SLOTS;
export const LIMIT_WORKER_BASE = LIMIT_TOTAL_BASE + LIMIT_SLOTS;
export const SEQUENCE_BYTES = (LIMIT_WORKER_BASE + MAX_WORKERS * LIMIT_SLOTS) * 4;
/** The cells of limit slot `slot`: [daemon-wide, worker `index`'s own]. */
export function limitCells(slot: number, index: number): [number, number] {
  return [LIMIT_TOTAL_BASE + slot, LIMIT_WORKER_BASE + index * LIMIT_SLOTS + slot];
}
/** The worker's descriptor for the shared sequences (stdio index after the IPC channel). */
export const SEQUENCE_FD = 4;
/** The worker's end of its socket pair for listening descriptors (native engine), the next stdio index. */
export const LISTENERS_FD = 5;
/** Backlog of the listening sockets the daemon binds for its workers. */
export const LISTEN_BACKLOG_WORKERS = 1024;

/** The worker's entry point, next to this module once compiled. */
export const WORKER_ENTRY = new URL('./worker-main.js', import.meta.url);
