/**
 * Runs a command as an argv array, never through a shell, with a timeout that
 * kills it (SIGTERM, then SIGKILL after a grace period) and always reaps it, so
 * no zombie is left. Used by the `script` health check, VRRP track scripts and
 * notify scripts. Never throws and never rejects: every outcome is a value.
 */
import { spawn } from 'node:child_process';

export type CommandOutcome =
  | { kind: 'exit'; code: number; stdout: string; stderr: string; ms: number }
  | { kind: 'signal'; signal: string; stdout: string; stderr: string; ms: number }
  | { kind: 'timeout'; stdout: string; stderr: string; ms: number }
  | { kind: 'spawn-error'; error: string; ms: number };

export interface RunCommandOptions {
  timeoutMs: number;
  env?: Record<string, string>;
  /** After SIGTERM on timeout, how long before SIGKILL. Default 1000 ms. */
  killGraceMs?: number;
  /** Keep at most this many bytes of stdout and of stderr. Default 4096. */
  maxOutputBytes?: number;
  cwd?: string;
}

export function runCommand(argv: readonly string[], options: RunCommandOptions): Promise<CommandOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const max = options.maxOutputBytes ?? 4096;
  return new Promise((resolve) => {
    if (argv.length === 0 || !argv[0]) {
      resolve({ kind: 'spawn-error', error: 'empty command', ms: 0 });
      return;
    }
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), {
        env: { ...process.env, ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: options.cwd,
        // Own process group, so a timeout kills the script's children too.
        detached: true,
      });
    } catch (err) {
      resolve({ kind: 'spawn-error', error: err instanceof Error ? err.message : String(err), ms: elapsed() });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < max) stdout += s.slice(0, max - stdout.length);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < max) stderr += s.slice(0, max - stderr.length);
    });
    let timedOut = false;
    let settled = false;
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs ?? 1000);
    }, options.timeoutMs);
    const finish = (outcome: CommandOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolve(outcome);
    };
    child.on('error', (err) => finish({ kind: 'spawn-error', error: err.message, ms: elapsed() }));
    // 'close' fires after the process exited (and was reaped) and its pipes closed.
    child.on('close', (code, signal) => {
      const ms = elapsed();
      if (timedOut) finish({ kind: 'timeout', stdout, stderr, ms });
      else if (signal) finish({ kind: 'signal', signal, stdout, stderr, ms });
      else finish({ kind: 'exit', code: code ?? 0, stdout, stderr, ms });
    });
  });
}
