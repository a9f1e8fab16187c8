/**
 * Per-state notify scripts (notify_master, notify_backup, notify_fault,
 * notify_stop): run as written, before the generic notify scripts, in the
 * order of the transitions, and never two at once for one instance. The
 * real-script test writes one line at the start and one at the end of each
 * run, so an overlap shows as two starts in a row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandOutcome, RunCommandOptions } from '@baton/core';
import { createScriptNotifier } from '../src/io/notify.js';
import type { StateChange } from '../src/ports.js';

const change = (to: StateChange['to'], instance = 'VI_1'): StateChange => ({ instance, from: 'backup', to, reason: 'test', priority: 150, atMs: 0 });

test('the state script runs as written, then the generic one with INSTANCE NAME STATE PRIORITY; other states run only the generic one', async () => {
  const calls: string[][] = [];
  const run = (argv: readonly string[], _o: RunCommandOptions): Promise<CommandOutcome> => {
    calls.push([...argv]);
    return Promise.resolve({ kind: 'exit', code: 0, stdout: '', stderr: '', ms: 0 });
  };
  const n = createScriptNotifier({
    scripts: ['/generic'],
    byState: { MASTER: [['/iptables.sh', '10.0.0.1', 'master']], BACKUP: ['/to-backup'], STOP: ['/stop'] },
    run,
  });
  n.notify(change('master'));
  n.notify(change('fault'));
  n.notify(change('backup'));
  n.notify(change('init'));
  await n.idle();
  assert.deepEqual(calls, [
    ['/iptables.sh', '10.0.0.1', 'master'],
    ['/generic', 'INSTANCE', 'VI_1', 'MASTER', '150'],
    ['/generic', 'INSTANCE', 'VI_1', 'FAULT', '150'],
    ['/to-backup'],
    ['/generic', 'INSTANCE', 'VI_1', 'BACKUP', '150'],
    ['/stop'],
    ['/generic', 'INSTANCE', 'VI_1', 'STOP', '150'],
  ]);
});

test('only state scripts configured: they still run (no generic notify needed)', async () => {
  const calls: string[] = [];
  const run = (argv: readonly string[], _o: RunCommandOptions): Promise<CommandOutcome> => {
    calls.push(argv.join(' '));
    return Promise.resolve({ kind: 'exit', code: 0, stdout: '', stderr: '', ms: 0 });
  };
  const n = createScriptNotifier({ scripts: [], byState: { FAULT: ['/f'] }, run });
  n.notify(change('master'));
  n.notify(change('fault'));
  await n.idle();
  assert.deepEqual(calls, ['/f']);
});

test('real scripts: transitions in order, never two runs at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-notify-states-'));
  try {
    const out = join(dir, 'log');
    const write = (name: string, body: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    // The master script is slow: a backup script started while it runs would log its start before "end master".
    const master = write('master.sh', `echo "start master" >> '${out}'; sleep 0.3; echo "end master" >> '${out}'`);
    const backup = write('backup.sh', `echo "start backup" >> '${out}'; echo "end backup" >> '${out}'`);
    const generic = write('notify.sh', `echo "start $3" >> '${out}'; echo "end $3" >> '${out}'`);
    const n = createScriptNotifier({ scripts: [generic], byState: { MASTER: [master], BACKUP: [backup] }, timeoutMs: 5000 });
    n.notify(change('master'));
    n.notify(change('backup'));
    n.notify(change('master'));
    await n.idle();
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), [
      'start master', 'end master', 'start MASTER', 'end MASTER',
      'start backup', 'end backup', 'start BACKUP', 'end BACKUP',
      'start master', 'end master', 'start MASTER', 'end MASTER',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
