/**
 * Notify scripts: keepalived's argv convention, strict order, timeouts, and
 * notify() never waiting for a script. The real-script tests run /bin/sh
 * scripts from a temporary directory that is always removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandOutcome, RunCommandOptions } from '@baton/core';
import { createScriptNotifier, notifyArgv, notifyStateName } from '../src/io/notify.js';
import type { StateChange } from '../src/ports.js';

const change = (to: StateChange['to'], priority = 150, instance = 'VI_1'): StateChange => ({
  instance,
  from: 'backup',
  to,
  reason: 'test',
  priority,
  atMs: 0,
});

function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-notify-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function writeScript(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('argv: SCRIPT INSTANCE NAME STATE PRIORITY; init is STOP', () => {
  assert.deepEqual(notifyArgv('/etc/baton/notify.sh', change('master')), ['/etc/baton/notify.sh', 'INSTANCE', 'VI_1', 'MASTER', '150']);
  assert.deepEqual(notifyArgv(['/usr/bin/logger', '-t', 'vrrp'], change('fault', 0)), ['/usr/bin/logger', '-t', 'vrrp', 'INSTANCE', 'VI_1', 'FAULT', '0']);
  assert.deepEqual(
    (['init', 'backup', 'master', 'fault'] as const).map(notifyStateName),
    ['STOP', 'BACKUP', 'MASTER', 'FAULT'],
  );
});

test('a real script receives exactly INSTANCE VI_1 MASTER 150, one argument each, in order', () =>
  withTempDir(async (dir) => {
    const out = join(dir, 'calls');
    // One line per call: the argument count, then each argument in brackets.
    const script = writeScript(dir, 'notify.sh', `{ printf '%s' "$#"; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >> '${out}'`);
    const n = createScriptNotifier({ scripts: [script], timeoutMs: 5000 });
    n.notify(change('backup', 100));
    n.notify(change('master', 150));
    n.notify(change('fault', 150));
    n.notify(change('init', 0));
    await n.idle();
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), [
      '4 [INSTANCE] [VI_1] [BACKUP] [100]',
      '4 [INSTANCE] [VI_1] [MASTER] [150]',
      '4 [INSTANCE] [VI_1] [FAULT] [150]',
      '4 [INSTANCE] [VI_1] [STOP] [0]',
    ]);
  }));

test('no shell: an instance name with shell syntax arrives as one literal argument', () =>
  withTempDir(async (dir) => {
    const out = join(dir, 'calls');
    const script = writeScript(dir, 'notify.sh', `printf '%s|' "$@" >> '${out}'`);
    const n = createScriptNotifier({ scripts: [script] });
    n.notify(change('master', 150, 'VI_1; touch pwned $(id)'));
    await n.idle();
    assert.equal(readFileSync(out, 'utf8'), 'INSTANCE|VI_1; touch pwned $(id)|MASTER|150|');
  }));

test('notify() returns at once; a slow script delays later ones but never reorders them', () =>
  withTempDir(async (dir) => {
    const out = join(dir, 'calls');
    // The first call sleeps 300 ms; if calls overlapped, the second line would come first.
    const script = writeScript(dir, 'notify.sh', `[ "$3" = BACKUP ] && sleep 0.3; echo "$3" >> '${out}'`);
    const n = createScriptNotifier({ scripts: [script] });
    const t0 = performance.now();
    n.notify(change('backup'));
    n.notify(change('master'));
    const notifyMs = performance.now() - t0;
    // Well under the script's 300 ms: notify() does not wait for it (starting the process may take a few ms on a loaded machine).
    assert.ok(notifyMs < 150, `notify() took ${notifyMs.toFixed(1)} ms`);
    assert.equal(n.pending, 2);
    await n.idle();
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['BACKUP', 'MASTER']);
    assert.equal(n.pending, 0);
  }));

test('a hung script is killed at the timeout and the queue moves on', () =>
  withTempDir(async (dir) => {
    const out = join(dir, 'calls');
    const script = writeScript(dir, 'notify.sh', `[ "$3" = BACKUP ] && sleep 30; echo "$3" >> '${out}'`);
    const n = createScriptNotifier({ scripts: [script], timeoutMs: 200 });
    const t0 = performance.now();
    n.notify(change('backup'));
    n.notify(change('master'));
    await n.idle();
    const ms = performance.now() - t0;
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['MASTER']);
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  }));

test('several scripts run in config order for each change; the queue is bounded, oldest dropped', async () => {
  const calls: string[] = [];
  let release: (() => void) | undefined;
  const run = (argv: readonly string[], _o: RunCommandOptions): Promise<CommandOutcome> =>
    new Promise((resolve) => {
      calls.push(`${argv[0]} ${argv[3]}`);
      const done = () => resolve({ kind: 'exit', code: 0, stdout: '', stderr: '', ms: 0 });
      if (argv[3] === 'BACKUP' && argv[0] === 'a') release = done;
      else done();
    });
  const n = createScriptNotifier({ scripts: ['a', 'b'], maxQueued: 2, run });
  n.notify(change('backup')); // starts at once, blocks in 'a'
  n.notify(change('master'));
  n.notify(change('fault'));
  n.notify(change('init')); // queue of 2 is full: 'master' is dropped
  assert.deepEqual(calls, ['a BACKUP']);
  release?.();
  await n.idle();
  assert.deepEqual(calls, ['a BACKUP', 'b BACKUP', 'a FAULT', 'b FAULT', 'a STOP', 'b STOP']);
});
