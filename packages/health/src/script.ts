/**
 * The `script` check: run `command` (an argv array, never a shell) with the
 * server's address in BATON_SERVER_HOST / BATON_SERVER_PORT; exit 0 = up.
 *
 * Invariants: the process runs in its own process group and is killed (group
 * SIGTERM, then SIGKILL after `killGraceMs`) when it outlives `timeoutMs`;
 * `check()` settles only after the process has exited and been reaped, so a
 * script check never overlaps itself and leaves no zombie. The scheduler's
 * abort arrives at the same deadline; the kill is what ends the wait.
 */
import { runCommand } from '@baton/core';
import { failure, type Probe, type ProbeTarget } from './probe.js';

export interface ScriptProbeOptions {
  command: readonly string[];
  /** The check timeout: the script is killed when it runs longer. */
  timeoutMs: number;
  /** SIGTERM to SIGKILL; default 500 ms. */
  killGraceMs?: number;
  /** Extra environment on top of the daemon's. */
  env?: Record<string, string>;
}

export function createScriptProbe(target: ProbeTarget, options: ScriptProbeOptions): Probe {
  const env = { ...options.env, BATON_SERVER_HOST: target.host, BATON_SERVER_PORT: String(target.port) };
  const name = options.command[0] ?? '(empty command)';
  return {
    async check() {
      const outcome = await runCommand(options.command, { timeoutMs: options.timeoutMs, env, killGraceMs: options.killGraceMs ?? 500 });
      switch (outcome.kind) {
        case 'exit':
          return outcome.code === 0
            ? { ok: true, ms: outcome.ms }
            : failure(outcome.ms, 'script-exit', `${name} exited ${outcome.code}${tail(outcome.stderr || outcome.stdout)}`);
        case 'signal':
          return failure(outcome.ms, 'script-exit', `${name} killed by ${outcome.signal}`);
        case 'timeout':
          return failure(outcome.ms, 'script-timeout', `${name} ran over ${options.timeoutMs} ms and was killed`);
        case 'spawn-error':
          return failure(outcome.ms, 'script-error', `${name}: ${outcome.error}`);
      }
    },
    close: async () => {},
  };
}

function tail(output: string): string {
  const line = output.trim().split('\n').pop()?.trim() ?? '';
  return line ? `: ${line.length > 120 ? line.slice(0, 117) + '...' : line}` : '';
}
