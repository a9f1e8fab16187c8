/**
 * The script probe for real: exit codes, the environment it gets, and a
 * timeout that kills the script and its children and leaves no zombie.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScriptProbe } from '../src/script.js';
import type { CheckResult } from '../src/probe.js';

const target = { host: '10.0.0.1', port: 3306 };
const never = new AbortController().signal;
const reasonOf = (r: CheckResult) => (r.ok ? 'ok' : r.reason);

/** The state letter from /proc/PID/stat (R, S, Z ...), or undefined when the process is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

test('script: exit 0 is up, exit 1 is script-exit with the output, missing binary is script-error', async () => {
  assert.equal(reasonOf(await createScriptProbe(target, { command: ['/bin/true'], timeoutMs: 2000 }).check(never)), 'ok');
  const failed = await createScriptProbe(target, { command: ['/bin/sh', '-c', 'echo not synced >&2; exit 3'], timeoutMs: 2000 }).check(never);
  assert.equal(reasonOf(failed), 'script-exit');
  assert.match(!failed.ok ? failed.detail : '', /exited 3: not synced/);
  assert.equal(reasonOf(await createScriptProbe(target, { command: ['/nonexistent/check'], timeoutMs: 2000 }).check(never)), 'script-error');
});

test('script: gets BATON_SERVER_HOST and BATON_SERVER_PORT, runs without a shell', async () => {
  const ok = await createScriptProbe(target, {
    command: ['/bin/sh', '-c', 'test "$BATON_SERVER_HOST:$BATON_SERVER_PORT" = 10.0.0.1:3306'],
    timeoutMs: 2000,
  }).check(never);
  assert.equal(reasonOf(ok), 'ok');
  // Shell metacharacters in argv are plain arguments.
  const literal = await createScriptProbe(target, { command: ['/bin/echo', '$(exit 1)', ';', 'false'], timeoutMs: 2000 }).check(never);
  assert.equal(reasonOf(literal), 'ok');
});

test('script: a script that outlives the timeout is killed with its children; no zombie is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-script-'));
  try {
    const pidFile = join(dir, 'pid');
    const childFile = join(dir, 'child');
    // The script starts a child of its own, then waits; both must die at the timeout.
    const command = ['/bin/sh', '-c', `sleep 30 & echo $! > ${childFile}; echo $$ > ${pidFile}; wait`];
    const started = performance.now();
    const r = await createScriptProbe(target, { command, timeoutMs: 300, killGraceMs: 200 }).check(never);
    const took = performance.now() - started;
    assert.equal(reasonOf(r), 'script-timeout');
    assert.ok(took >= 290 && took < 1500, `killed near the timeout (${took.toFixed(0)} ms)`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const child = Number(readFileSync(childFile, 'utf8'));
    assert.ok(pid > 0 && child > 0);
    assert.equal(procState(pid), undefined, `script pid ${pid} is gone (reaped), state ${procState(pid)}`);
    // The grandchild is reparented when killed; it must not be running (a Z here belongs to its new parent).
    await new Promise((r) => setTimeout(r, 100));
    const childState = procState(child);
    assert.ok(childState === undefined || childState === 'Z', `script child ${child} was killed (state ${childState})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(existsSync(dir), false);
});
