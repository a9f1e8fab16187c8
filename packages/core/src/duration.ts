/**
 * Durations in config: strings with a unit (`100ms`, `2s`, `1m`, `8h`, `1d`,
 * or a compound like `1m30s`) or plain numbers meaning seconds. The result is
 * whole milliseconds.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

export function parseDuration(value: unknown): DurationResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { ok: false, error: 'must be a non-negative number of seconds' };
    return { ok: true, ms: Math.round(value * 1000) };
  }
  if (typeof value !== 'string') return { ok: false, error: 'must be a duration such as 100ms, 2s, 8h, or a number of seconds' };
  const text = value.trim();
  if (text === '') return { ok: false, error: 'must not be empty' };
  if (/^\d+(\.\d+)?$/.test(text)) return { ok: true, ms: Math.round(Number(text) * 1000) };
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== at) return { ok: false, error: `"${value}" is not a duration (use e.g. 100ms, 2s, 1m30s, 8h)` };
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  }
  return { ok: true, ms: Math.round(total) };
}

/** Formats milliseconds the way config is written: 1500 -> "1.5s", 100 -> "100ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
