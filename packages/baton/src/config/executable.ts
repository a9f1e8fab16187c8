/**
 * Checks that a command named in the config (health `script`, VRRP track
 * scripts, notify) can run: Baton executes argv directly, without a shell and
 * without $PATH lookup, so argv[0] must be an absolute path to an executable
 * regular file. `baton check` reports a missing or non-executable command
 * instead of letting the daemon discover it at the first failover.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';

/** Returns why `path` cannot be executed, or undefined when it can. Never throws. */
export function checkExecutable(path: string): string | undefined {
  return override ? override(path) : checkOnThisHost(path);
}

type ExecutableCheck = (path: string) => string | undefined;
let override: ExecutableCheck | undefined;

/**
 * Runs `body` (synchronous: the schema's parse) with another executable
 * check, for a config written for a different host: `baton import-keepalived`
 * tests validate their output against the commands the source names, which
 * exist on the keepalived host, not on the test machine.
 */
export function withExecutableCheck<T>(check: ExecutableCheck, body: () => T): T {
  const previous = override;
  override = check;
  try {
    return body();
  } finally {
    override = previous;
  }
}

function checkOnThisHost(path: string): string | undefined {
  if (!isAbsolute(path)) return `"${path}" must be an absolute path (commands run without a shell or $PATH)`;
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    return `"${path}" does not exist`;
  }
  if (!isFile) return `"${path}" is not a regular file`;
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return `"${path}" is not executable (chmod +x)`;
  }
  return undefined;
}
