/**
 * Notify scripts (`notify:`): on every state change each configured script
 * runs as `SCRIPT INSTANCE NAME STATE PRIORITY`, keepalived's convention
 * (e.g. `notify.sh INSTANCE VI_1 MASTER 150`), so existing keepalived notify
 * scripts work unchanged. The per-state scripts (`notify_master`,
 * `notify_backup`, `notify_fault`, `notify_stop`) run as written, with no
 * argument added, and before the generic ones, in keepalived's order.
 *
 * Invariants:
 * - Scripts run as argv through `runCommand`, never through a shell; the
 *   configured entry may be a path or an argv array (its extra arguments come
 *   before keepalived's four).
 * - One serial queue: changes are handled in the order notify() was called,
 *   and for each change the scripts run one after another (the state's own
 *   scripts, then the generic ones, each in config order), so no script ever
 *   sees "BACKUP" after the later "MASTER" and no two run at once.
 * - notify() only enqueues and returns: the election never waits for a
 *   script. Each run is bounded by `timeoutMs` (the process group is killed),
 *   so a hung script delays later notifications by at most that much.
 * - The queue is bounded (`maxQueued`): when full, the oldest waiting change
 *   is dropped and logged, since the latest state is what a script must see.
 * - Never throws; failures (non-zero exit, timeout) are logged.
 */
import { describeError, runCommand, silentLogger, type CommandOutcome, type Logger, type RunCommandOptions } from '@baton/core';
import type { Notifier, StateChange } from '../ports.js';
import type { VrrpState } from '../types.js';

/** keepalived's state words for notify scripts; leaving VRRP (back to init) is STOP. */
export type NotifyStateName = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export function notifyStateName(state: VrrpState): NotifyStateName {
  switch (state) {
    case 'master':
      return 'MASTER';
    case 'backup':
      return 'BACKUP';
    case 'fault':
      return 'FAULT';
    case 'init':
      return 'STOP';
  }
}

/** The argv a script is run with for `change`. Pure. */
export function notifyArgv(script: string | readonly string[], change: StateChange): string[] {
  const base = typeof script === 'string' ? [script] : [...script];
  return [...base, 'INSTANCE', change.instance, notifyStateName(change.to), String(change.priority)];
}

export type NotifyScript = string | readonly string[];

export interface ScriptNotifierOptions {
  /** Generic scripts: called with the change appended (`argvFor`). */
  scripts: readonly NotifyScript[];
  /** Scripts for one state only, run as written before the generic ones. */
  byState?: Partial<Record<NotifyStateName, readonly NotifyScript[]>>;
  /** The argv of a generic script for a change; default notifyArgv (INSTANCE NAME STATE PRIORITY). */
  argvFor?: (script: NotifyScript, change: StateChange) => string[];
  /** Per script run. Default 10 s. */
  timeoutMs?: number;
  /** Changes waiting at most; default 64. */
  maxQueued?: number;
  logger?: Logger;
  /** Replaces runCommand (tests). */
  run?: (argv: readonly string[], options: RunCommandOptions) => Promise<CommandOutcome>;
}

export interface ScriptNotifier extends Notifier {
  /** Changes waiting or running. */
  readonly pending: number;
  /** Resolves when every change notified so far has been handled (for shutdown and tests). */
  idle(): Promise<void>;
}

export function createScriptNotifier(options: ScriptNotifierOptions): ScriptNotifier {
  const logger = options.logger ?? silentLogger;
  const run = options.run ?? runCommand;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxQueued = Math.max(1, options.maxQueued ?? 64);
  const queue: StateChange[] = [];
  let running = false;
  let idleWaiters: (() => void)[] = [];

  const argvFor = options.argvFor ?? notifyArgv;
  const byState = options.byState ?? {};
  const total = options.scripts.length + Object.values(byState).reduce((n, l) => n + (l?.length ?? 0), 0);
  const runOne = async (change: StateChange): Promise<void> => {
    const state = notifyStateName(change.to);
    const argvs = [
      ...(byState[state] ?? []).map((script) => (typeof script === 'string' ? [script] : [...script])),
      ...options.scripts.map((script) => argvFor(script, change)),
    ];
    for (const argv of argvs) {
      let outcome: CommandOutcome;
      try {
        outcome = await run(argv, { timeoutMs });
      } catch (err) {
        // runCommand never rejects; this guards a replaced `run`.
        logger.warn('notify script failed', { script: argv[0], error: describeError(err) });
        continue;
      }
      if (!(outcome.kind === 'exit' && outcome.code === 0)) {
        const detail = outcome.kind === 'exit' ? `exit ${outcome.code}` : outcome.kind === 'signal' ? outcome.signal : outcome.kind;
        logger.warn('notify script failed', { script: argv[0], instance: change.instance, state, result: detail });
      }
    }
  };

  const drain = async (): Promise<void> => {
    running = true;
    try {
      for (let change = queue.shift(); change; change = queue.shift()) await runOne(change);
    } finally {
      running = false;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  return {
    notify(change) {
      if (total === 0) return;
      queue.push({ ...change });
      if (queue.length > maxQueued) {
        const dropped = queue.shift();
        logger.warn('notify queue full; dropped the oldest change', { instance: dropped?.instance, state: dropped?.to });
      }
      if (!running) void drain();
    },
    get pending() {
      return queue.length + (running ? 1 : 0);
    },
    idle() {
      if (!running && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
