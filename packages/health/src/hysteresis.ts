/**
 * Rise/fall hysteresis as one counter, the model HAProxy uses for its checks
 * (`check->health` in src/check.c). Pure: no clock, no I/O.
 *
 * Invariants:
 * - `counter` stays in [0, rise + fall - 1]; the server is up iff
 *   counter >= rise.
 * - While down, each success adds one and any failure resets to 0, so a down
 *   server comes up after `rise` consecutive successes.
 * - Reaching `rise` jumps the counter to the top (rise + fall - 1), and every
 *   success while up puts it back there, so an up server goes down after
 *   `fall` consecutive failures; a failure at exactly `rise` drops to 0.
 * - Hence alternating results (flapping) never change the state when
 *   rise >= 2 and fall >= 2.
 */

export interface HysteresisConfig {
  /** Consecutive successes to go up; >= 1. */
  rise: number;
  /** Consecutive failures to go down; >= 1. */
  fall: number;
}

export type HealthState = 'up' | 'down';

export interface HysteresisState {
  counter: number;
}

/** The counter for a server that starts `up` (top of the range) or `down` (0). */
export function initialHysteresis(cfg: HysteresisConfig, initial: HealthState): HysteresisState {
  return { counter: initial === 'up' ? top(cfg) : 0 };
}

export function stateOf(cfg: HysteresisConfig, s: HysteresisState): HealthState {
  return s.counter >= cfg.rise ? 'up' : 'down';
}

/** Feeds one check outcome; `changed` is set on the step that crosses the threshold. */
export function stepHysteresis(
  cfg: HysteresisConfig,
  s: HysteresisState,
  ok: boolean,
): { next: HysteresisState; state: HealthState; changed: boolean } {
  const before = stateOf(cfg, s);
  let counter = s.counter;
  if (ok) {
    if (before === 'up') counter = top(cfg);
    else {
      counter += 1;
      if (counter >= cfg.rise) counter = top(cfg);
    }
  } else if (counter > cfg.rise) {
    counter -= 1; // still up
  } else {
    counter = 0; // down (or was already down: failures restart the rise count)
  }
  const next = { counter };
  const state = stateOf(cfg, next);
  return { next, state, changed: state !== before };
}

function top(cfg: HysteresisConfig): number {
  return cfg.rise + cfg.fall - 1;
}
