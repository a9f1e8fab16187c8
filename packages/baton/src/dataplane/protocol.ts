/**
 * The messages between the daemon (cluster primary) and its data-plane
 * workers. Plain JSON over the cluster IPC channel.
 *
 * Invariants: the daemon sends nothing before the worker's `hello`; a worker handles messages strictly in order (an apply that is
 * still binding holds back the state changes sent after it); every request
 * that expects an answer carries an `id` the answer repeats.
 */
import type { ApplyResult, ServerState, ServiceCounters, ServiceSpec } from '@baton/proxy';
import type { LogLevel } from '@baton/core';

export interface WorkerInit {
  logLevel: LogLevel;
  specs: ServiceSpec[];
  /** service -> slot of its round-robin sequence in the shared memory. */
  slots: Record<string, number>;
  /** [service, server, state] to assert after the specs are applied. */
  states: [string, string, ServerState][];
  writers: [string, string | null][];
}

export type ToWorker =
  | { t: 'init'; id: number; init: WorkerInit }
  | { t: 'apply'; id: number; specs: ServiceSpec[]; slots: Record<string, number> }
  | { t: 'state'; service: string; server: string; state: ServerState; reason: string }
  | { t: 'writer'; service: string; server: string | null; reason: string }
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

/** Shared memory: one 32-bit sequence per service slot. */
export const SEQUENCE_SLOTS = 4096;
export const SEQUENCE_BYTES = SEQUENCE_SLOTS * 4;
/** The worker's descriptor for the shared sequences (stdio index after the IPC channel). */
export const SEQUENCE_FD = 4;

/** The worker's entry point, next to this module once compiled. */
export const WORKER_ENTRY = new URL('./worker-main.js', import.meta.url);
