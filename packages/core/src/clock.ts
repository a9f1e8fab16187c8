/**
 * Clock: the one source of time for every pure core and every shell.
 *
 * Invariants:
 * - `now()` is monotonic milliseconds (performance.now()), never wall time, so
 *   failover and health timers survive NTP steps.
 * - Pure code never reads time: it receives `now` as an argument. Shells arm
 *   timers through a Clock so tests can drive them with FakeClock.advance().
 */
export interface TimerHandle {
  /** Opaque; pass back to clearTimeout. */
  readonly id: number;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

interface RealTimer extends TimerHandle {
  timer: NodeJS.Timeout;
}

let nextRealId = 1;

/** The real clock: performance.now() and Node's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms));
    const handle: RealTimer = { id: nextRealId++, timer };
    return handle;
  },
  clearTimeout(handle) {
    if (handle) clearTimeout((handle as RealTimer).timer);
  },
};

interface FakeTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A deterministic clock for tests: time moves only through advance(); timers
 * due at the same instant fire in the order they were armed.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** Number of armed timers, for assertions. */
  pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: FakeTimer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at > end) continue;
        if (!due || timer.at < due.at || (timer.at === due.at && timer.seq < due.seq)) due = timer;
      }
      if (!due) break;
      this.timers.delete(due.id);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}
