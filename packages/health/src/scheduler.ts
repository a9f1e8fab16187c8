/**
 * The check scheduler: the imperative shell around the probes and the pure
 * hysteresis. One scheduler runs the checks of a set of servers (a service).
 *
 * Invariants:
 * - A server's checks never overlap: the next check is armed only after the
 *   previous one has settled, `intervalMs` after the previous one started
 *   (or at once when the check took longer than the interval). A timeout
 *   longer than the interval is therefore allowed: a server whose checks run
 *   into the timeout is checked back to back, every `timeoutMs`.
 * - A check never outlives `timeoutMs`: at the deadline its signal aborts and
 *   the probe settles with `l4-timeout` / `l7-timeout`; a success that
 *   arrives after the deadline counts as `l7-timeout`. A probe that ignores
 *   the abort is recorded as `l7-timeout` after `abortGraceMs`, and its server
 *   is not checked again until that probe finally settles.
 * - Servers are independent: one server's hanging check delays nobody else.
 * - First checks are staggered across the interval (server i of n starts at
 *   i/n of its interval), so a service's checks do not all fire at once.
 * - A server starts `down` (counter 0) unless `initial: 'up'`; each state
 *   change is reported once, with the result that caused it.
 * - Time comes from the injected Clock; nothing here reads the wall clock.
 * - Listener errors are logged, never allowed to stop the checks.
 */
import { describeError, realClock, silentLogger, type Clock, type Logger, type TimerHandle } from '@baton/core';
import { initialHysteresis, stateOf, stepHysteresis, type HealthState, type HysteresisState } from './hysteresis.js';
import { failure, labelOf, type CheckInfo, type CheckLabel, type CheckResult, type Probe } from './probe.js';

export interface CheckTiming {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** State before the first checks decide; default 'down'. */
  initial?: HealthState;
}

export interface ScheduledServer {
  name: string;
  probe: Probe;
  timing: CheckTiming;
}

/** What the scheduler knows about one server; a copy, safe to keep. */
export interface ServerHealth {
  name: string;
  state: HealthState;
  /** The hysteresis counter, in [0, rise + fall - 1]. */
  counter: number;
  /** Completed checks. */
  checks: number;
  lastResult?: CheckResult;
  /** The latest info any check reported (kept across failures that carry none). */
  info?: CheckInfo;
  /** Clock time of the last state change, or of the start. */
  sinceMs: number;
}

export interface HealthChange {
  server: string;
  from: HealthState;
  to: HealthState;
  /** `ok` for a rise; the failure reason for a fall. Metric label and log key. */
  label: CheckLabel;
  detail: string;
  result: CheckResult;
  atMs: number;
}

export interface HealthSchedulerOptions {
  servers: readonly ScheduledServer[];
  clock?: Clock;
  logger?: Logger;
  /** Every completed check, in order per server. */
  onResult?: (server: string, result: CheckResult, health: ServerHealth) => void;
  /** Every up/down transition, once. */
  onChange?: (change: HealthChange) => void;
  /** How long a probe may take to settle after its abort before the check is recorded failed anyway; default 1000 ms. */
  abortGraceMs?: number;
}

interface Slot {
  server: ScheduledServer;
  hyst: HysteresisState;
  checks: number;
  lastResult?: CheckResult;
  info?: CheckInfo;
  sinceMs: number;
  next?: TimerHandle;
  deadline?: TimerHandle;
  grace?: TimerHandle;
  controller?: AbortController;
  inFlight?: Promise<void>;
}

export class HealthScheduler {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly slots: Slot[];
  private started = false;
  private stopped = false;

  constructor(private readonly options: HealthSchedulerOptions) {
    this.clock = options.clock ?? realClock;
    this.logger = options.logger ?? silentLogger;
    const names = new Set<string>();
    this.slots = options.servers.map((server) => {
      if (names.has(server.name)) throw new Error(`duplicate server name ${server.name}`);
      names.add(server.name);
      const t = server.timing;
      if (!(t.rise >= 1 && t.fall >= 1 && t.intervalMs > 0 && t.timeoutMs > 0)) {
        throw new Error(`server ${server.name}: rise and fall must be >= 1, interval and timeout > 0`);
      }
      return { server, hyst: initialHysteresis(t, t.initial ?? 'down'), checks: 0, sinceMs: this.clock.now() };
    });
  }

  /** Arms the first check of every server, staggered across its interval. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const n = this.slots.length;
    this.slots.forEach((slot, i) => this.arm(slot, Math.floor((i * slot.server.timing.intervalMs) / n)));
  }

  /** Stops checking: cancels timers, aborts running checks, waits for them, closes the probes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const slot of this.slots) {
      this.clock.clearTimeout(slot.next);
      this.clock.clearTimeout(slot.deadline);
      this.clock.clearTimeout(slot.grace);
      slot.controller?.abort();
    }
    await Promise.all(this.slots.map((s) => s.inFlight));
    await Promise.all(
      this.slots.map((s) =>
        s.server.probe.close().catch((err: unknown) => this.logger.warn('health probe close failed', { server: s.server.name, error: describeError(err) })),
      ),
    );
  }

  get(name: string): ServerHealth | undefined {
    const slot = this.slots.find((s) => s.server.name === name);
    return slot && this.view(slot);
  }

  snapshot(): ServerHealth[] {
    return this.slots.map((s) => this.view(s));
  }

  private view(slot: Slot): ServerHealth {
    const h: ServerHealth = {
      name: slot.server.name,
      state: stateOf(slot.server.timing, slot.hyst),
      counter: slot.hyst.counter,
      checks: slot.checks,
      sinceMs: slot.sinceMs,
    };
    if (slot.lastResult) h.lastResult = slot.lastResult;
    if (slot.info) h.info = slot.info;
    return h;
  }

  private arm(slot: Slot, delayMs: number): void {
    if (this.stopped) return;
    slot.next = this.clock.setTimeout(() => {
      slot.next = undefined;
      this.runCheck(slot);
    }, delayMs);
  }

  private runCheck(slot: Slot): void {
    if (this.stopped) return;
    const { timing, probe, name } = slot.server;
    const startedAt = this.clock.now();
    const controller = new AbortController();
    slot.controller = controller;
    let recorded = false;
    const record = (result: CheckResult) => {
      if (recorded) return;
      recorded = true;
      this.record(slot, result);
    };
    slot.deadline = this.clock.setTimeout(() => {
      slot.deadline = undefined;
      controller.abort();
      slot.grace = this.clock.setTimeout(() => {
        slot.grace = undefined;
        record(failure(timing.timeoutMs + (this.options.abortGraceMs ?? 1000), 'l7-timeout', `${name}: check did not stop at the ${timing.timeoutMs} ms timeout`));
      }, this.options.abortGraceMs ?? 1000);
    }, timing.timeoutMs);

    let settled: Promise<CheckResult>;
    try {
      settled = probe.check(controller.signal);
    } catch (err) {
      settled = Promise.reject(err);
    }
    slot.inFlight = settled
      .catch((err: unknown) => failure(Math.round(this.clock.now() - startedAt), 'l7-error', `${name}: probe failed: ${describeError(err)}`))
      .then((result) => {
        this.clock.clearTimeout(slot.deadline);
        this.clock.clearTimeout(slot.grace);
        slot.deadline = slot.grace = undefined;
        slot.controller = undefined;
        slot.inFlight = undefined;
        if (this.stopped) return;
        if (controller.signal.aborted && result.ok) {
          result = failure(result.ms, 'l7-timeout', `${name}: answer came after the ${timing.timeoutMs} ms timeout`, result.info);
        }
        record(result);
        const took = this.clock.now() - startedAt;
        this.arm(slot, Math.max(0, timing.intervalMs - took));
      });
  }

  private record(slot: Slot, result: CheckResult): void {
    const timing = slot.server.timing;
    const before = stateOf(timing, slot.hyst);
    const step = stepHysteresis(timing, slot.hyst, result.ok);
    slot.hyst = step.next;
    slot.checks++;
    slot.lastResult = result;
    if (result.info) slot.info = result.info;
    const now = this.clock.now();
    if (step.changed) slot.sinceMs = now;
    const name = slot.server.name;
    this.safely(() => this.options.onResult?.(name, result, this.view(slot)));
    if (!step.changed) return;
    const change: HealthChange = {
      server: name,
      from: before,
      to: step.state,
      label: labelOf(result),
      detail: result.ok ? `${timing.rise} consecutive successful checks` : result.detail,
      result,
      atMs: now,
    };
    const fields = { server: name, reason: change.label, detail: change.detail, ms: result.ms };
    if (change.to === 'down') this.logger.warn('server down', fields);
    else this.logger.info('server up', fields);
    this.safely(() => this.options.onChange?.(change));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error('health listener failed', { error: describeError(err) });
    }
  }
}
