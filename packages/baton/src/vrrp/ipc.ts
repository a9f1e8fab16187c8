/**
 * The messages between the daemon and its VRRP child process. Plain JSON
 * (the default IPC serialisation): configs, snapshots and log records only.
 *
 * Invariants: every request that expects an answer carries an `id` the
 * answer repeats; the child never sends anything the parent must answer.
 */
import type { LogFields, LogLevel } from '@baton/core';
import type { VrrpInstanceConfig, VrrpScheduling, VrrpSyncGroupConfig } from '../config/types.js';
import type { InstanceSnapshot } from './instance.js';

/** One instance as the child runs it: the config plus what only the daemon can resolve. */
export interface InstanceSpec {
  config: VrrpInstanceConfig;
  authPass: string | undefined;
  /** VRIDs of the other instances on the same interface. */
  siblings: number[];
  /** The sync group the instance is in, if any (the child couples the members). */
  syncGroup?: VrrpSyncGroupConfig;
}

/** What one apply did, by instance name (the daemon's reload line lists it). */
export interface ApplySummary {
  added: string[];
  removed: string[];
  restarted: string[];
  updated: string[];
}

export type ToChild =
  /** The full wanted set: the child diffs it against what it runs. */
  | { t: 'apply'; id: number; instances: InstanceSpec[]; servicesDown: string[]; logLevel: LogLevel; scheduling?: VrrpScheduling }
  /** Tracked services' status changed (ControlPlane.servicesWithoutUpServer()). */
  | { t: 'services'; down: string[] }
  | { t: 'log-stats' }
  /** Shut every router down (priority 0, VIPs removed), answer, exit. */
  | { t: 'stop'; id: number };

export type FromChild =
  | { t: 'log'; level: LogLevel; message: string; fields: LogFields }
  | { t: 'snapshot'; instances: InstanceSnapshot[] }
  | { t: 'done'; id: number; error?: { code: string; message: string }; summary?: ApplySummary };

/** The child's entry point, next to this module once compiled (dist/src/vrrp/child.js). */
export const CHILD_ENTRY = new URL('./child.js', import.meta.url);
