/**
 * Script tracking (`track.scripts`, keepalived's vrrp_script): run a command
 * every `interval`, with a `timeout`; `rise` consecutive successes make it
 * OK, `fall` consecutive failures make it FAILED. The result moves the VRRP
 * instance: `weight: 0` means FAULT while failed; a positive weight raises
 * the priority while OK, a negative one lowers it while failed (keepalived).
 *
 * Two halves:
 * - Pure hysteresis (`recordScriptResult`, `scriptEffect`): one counter in
 *   [0, rise+fall-1], OK iff >= rise (HAProxy's health counter); no clock,
 *   no I/O, table-tested.
 * - `startTrackScript()`, the shell: runs the command with `runCommand`
 *   (argv, never a shell; the timeout kills the process group) on an
 *   injected Clock and reports status changes.
 *
 * Invariants:
 * - The first result decides at once (no status before it: 'unknown', which
 *   has no effect on the instance), so a node does not sit in FAULT for
 *   rise × interval after start.
 * - Exit status 0 is success; any other exit, a signal, a timeout or a spawn
 *   error is a failure.
 * - Runs never overlap: the next starts `interval` after the previous one
 *   started, or at once if it took longer than that.
 * - onChange is called only when the status changes; after stop() nothing
 *   is reported and no new run starts.
 */
import { describeError, realClock, runCommand, silentLogger, type Clock, type CommandOutcome, type Logger, type RunCommandOptions, type TimerHandle } from '@baton/core';

export type ScriptStatus = 'unknown' | 'ok' | 'failed';

export interface ScriptHysteresis {
  /** Consecutive successes to become OK (>= 1). */
  rise: number;
  /** Consecutive failures to become FAILED (>= 1). */
  fall: number;
}

export interface ScriptTrackState {
  status: ScriptStatus;
  /** In [0, rise+fall-1]; OK iff >= rise once the status is known. */
  counter: number;
}

export const INITIAL_SCRIPT_STATE: ScriptTrackState = { status: 'unknown', counter: 0 };

/** Applies one check result. Pure. */
export function recordScriptResult(h: ScriptHysteresis, s: ScriptTrackState, success: boolean): ScriptTrackState {
  const rise = Math.max(1, h.rise);
  const fall = Math.max(1, h.fall);
  const top = rise + fall - 1;
  if (s.status === 'unknown') return success ? { status: 'ok', counter: top } : { status: 'failed', counter: 0 };
  if (s.status === 'ok') {
    if (success) return { status: 'ok', counter: top };
    const counter = s.counter - 1;
    return counter < rise ? { status: 'failed', counter: 0 } : { status: 'ok', counter };
  }
  if (!success) return { status: 'failed', counter: 0 };
  const counter = s.counter + 1;
  return counter >= rise ? { status: 'ok', counter: top } : { status: 'failed', counter };
}

/** What a script in `status` does to its instance: FAULT, or a priority delta. Pure. */
export function scriptEffect(weight: number, status: ScriptStatus): { fault: boolean; priorityDelta: number } {
  if (status === 'unknown') return { fault: false, priorityDelta: 0 };
  if (weight === 0) return { fault: status === 'failed', priorityDelta: 0 };
  if (weight > 0) return { fault: false, priorityDelta: status === 'ok' ? weight : 0 };
  return { fault: false, priorityDelta: status === 'failed' ? weight : 0 };
}

/** A finished run counts as success only on exit status 0. */
export function scriptSucceeded(outcome: CommandOutcome): boolean {
  return outcome.kind === 'exit' && outcome.code === 0;
}

export interface TrackScriptOptions extends ScriptHysteresis {
  /** For logs. */
  name: string;
  command: readonly string[];
  intervalMs: number;
  timeoutMs: number;
  weight: number;
  onChange: (status: Exclude<ScriptStatus, 'unknown'>, outcome: CommandOutcome) => void;
  clock?: Clock;
  logger?: Logger;
  /** Replaces runCommand (tests). */
  run?: (argv: readonly string[], options: RunCommandOptions) => Promise<CommandOutcome>;
}

export interface TrackScript {
  readonly status: ScriptStatus;
  /** The current effect on the instance (see scriptEffect). */
  effect(): { fault: boolean; priorityDelta: number };
  /** Stops scheduling; a run in progress finishes unreported. Idempotent. */
  stop(): void;
}

/** Starts checking at once; see the module comment for the schedule. */
export function startTrackScript(options: TrackScriptOptions): TrackScript {
  const clock = options.clock ?? realClock;
  const logger = options.logger ?? silentLogger;
  const run = options.run ?? runCommand;
  let state: ScriptTrackState = INITIAL_SCRIPT_STATE;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const once = async (): Promise<void> => {
    timer = undefined;
    const startedMs = clock.now();
    const outcome = await run(options.command, { timeoutMs: options.timeoutMs });
    if (stopped) return;
    const prev = state.status;
    state = recordScriptResult(options, state, scriptSucceeded(outcome));
    if (state.status !== prev && state.status !== 'unknown') {
      logger.info('track script changed', { script: options.name, status: state.status, result: outcome.kind, ms: outcome.ms });
      try {
        options.onChange(state.status, outcome);
      } catch (err) {
        logger.warn('track script handler threw', { script: options.name, error: describeError(err) });
      }
    }
    const waitMs = Math.max(0, options.intervalMs - (clock.now() - startedMs));
    timer = clock.setTimeout(schedule, waitMs);
  };
  const schedule = () => {
    if (stopped) return;
    // runCommand never rejects; the catch only guards a replaced `run`.
    once().catch((err: unknown) => {
      logger.error('track script run failed', { script: options.name, error: describeError(err) });
      if (!stopped) timer = clock.setTimeout(schedule, options.intervalMs);
    });
  };
  schedule();

  return {
    get status() {
      return state.status;
    },
    effect: () => scriptEffect(options.weight, state.status),
    stop() {
      stopped = true;
      clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}
