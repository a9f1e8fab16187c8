/**
 * Logging: one line per event, to stdout (journald and `docker logs` pick it
 * up as is). A line is `<ISO time> <LEVEL> <message> key=value ...`; values
 * with spaces or quotes are JSON-quoted so the line stays machine-splittable.
 *
 * Packages depend only on the Logger interface; the daemon chooses the sink
 * and the level. A line logger's level can change while it runs (a reload's
 * `log_level`): every child made from it follows, so a component holding a
 * child logger needs no new one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(LEVEL_RANK, value);
}

/** True when a logger at `min` writes a line at `level`. */
export function levelEnabled(min: LogLevel, level: LogLevel): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[min];
}

function formatValue(v: string | number | boolean | null): string {
  if (typeof v !== 'string') return String(v);
  return v === '' || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
}

export function formatLogLine(level: LogLevel, message: string, fields: LogFields, time: Date): string {
  let line = `${time.toISOString()} ${level.toUpperCase()} ${message}`;
  for (const key in fields) {
    const v = fields[key];
    if (v === undefined) continue;
    line += ` ${key}=${formatValue(v)}`;
  }
  return line;
}

export interface LineLoggerOptions {
  level?: LogLevel;
  /** Where lines go; default process.stdout. */
  write?: (line: string) => void;
  fields?: LogFields;
}

/** A line logger whose level (shared with every child) can be changed. */
export interface LineLogger extends Logger {
  readonly level: LogLevel;
  setLevel(level: LogLevel): void;
  child(fields: LogFields): LineLogger;
}

export function createLineLogger(options: LineLoggerOptions = {}): LineLogger {
  let level: LogLevel = options.level ?? 'info';
  let min = LEVEL_RANK[level];
  const write = options.write ?? ((line: string) => void process.stdout.write(line + '\n'));
  const setLevel = (next: LogLevel) => {
    level = next;
    min = LEVEL_RANK[next];
  };
  const make = (base: LogFields): LineLogger => {
    const log = (level: LogLevel, message: string, fields?: LogFields) => {
      if (LEVEL_RANK[level] < min) return;
      write(formatLogLine(level, message, fields ? { ...base, ...fields } : base, new Date()));
    };
    return {
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      child: (fields) => make({ ...base, ...fields }),
      get level() {
        return level;
      },
      setLevel,
    };
  };
  return make(options.fields ?? {});
}

/** A logger that drops everything: for tests and library defaults. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/**
 * Logs at most `burst` lines per `windowMs` for one key and then one summary
 * line with the number suppressed, so a flood of bad packets or resets cannot
 * flood the log. Time comes from the caller (pure: no clock read here).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    private readonly burst: number,
    private readonly windowMs: number,
  ) {}

  /** Returns how many earlier events were suppressed (>= 0) when this one may be logged, or -1 when it must be dropped. */
  admit(key: string, nowMs: number): number {
    let w = this.windows.get(key);
    if (!w || nowMs - w.start >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: nowMs, count: 1, suppressed: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 1024) this.windows.clear();
      return suppressed;
    }
    if (w.count < this.burst) {
      w.count++;
      return 0;
    }
    w.suppressed++;
    return -1;
  }
}
