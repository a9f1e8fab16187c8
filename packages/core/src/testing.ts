/**
 * For tests only: skipping for a missing tool or privilege. Outside CI a test
 * that cannot run here skips and says why; under CI=true it fails instead,
 * because CI must run everything.
 */
export function underCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** Minimal view of node:test's TestContext, so core does not depend on node:test types. */
export interface SkippableContext {
  skip(message?: string): void;
}

/**
 * Returns true when the test may go on. When `ok` is false: under CI throws
 * (the test fails with `reason`), otherwise marks the test skipped and returns false.
 */
export function requireCapability(t: SkippableContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (underCi()) throw new Error(`cannot run under CI: ${reason}`);
  t.skip(reason);
  return false;
}

/** True when running as root (network namespaces, raw sockets, installing packages). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
