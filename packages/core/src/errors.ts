/**
 * Thrown errors are for bugs and bad configuration. Each carries a stable
 * `code` that callers branch on (never the message text) and an optional
 * `cause`. Expected failures (a refused connect, a failed check, a bad packet)
 * are values, not exceptions.
 */
export class BatonError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BatonError';
    this.code = code;
  }
}

/** True when `err` is a BatonError with the given code. */
export function hasCode(err: unknown, code: string): err is BatonError {
  return err instanceof BatonError && err.code === code;
}

/** A short, single-line description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
