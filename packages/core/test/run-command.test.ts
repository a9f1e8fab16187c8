import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from '../src/run-command.js';

test('exit codes are reported', async () => {
  const ok = await runCommand(['sh', '-c', 'exit 0'], { timeoutMs: 5000 });
  assert.equal(ok.kind, 'exit');
  assert.equal(ok.kind === 'exit' && ok.code, 0);
  const bad = await runCommand(['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 5000 });
  assert.deepEqual(bad.kind === 'exit' && [bad.code, bad.stdout, bad.stderr], [3, 'out\n', 'err\n']);
});

test('environment is passed', async () => {
  const r = await runCommand(['sh', '-c', 'echo "$BATON_X"'], { timeoutMs: 5000, env: { BATON_X: 'hello' } });
  assert.equal(r.kind === 'exit' && r.stdout, 'hello\n');
});

test('a timeout kills the whole process group and resolves', async () => {
  const r = await runCommand(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 200, killGraceMs: 200 });
  assert.equal(r.kind, 'timeout');
  assert.ok(r.ms < 3000, `took ${r.ms} ms`);
});

test('a missing command is a value, not a throw', async () => {
  const r = await runCommand(['/nonexistent/baton-check'], { timeoutMs: 1000 });
  assert.equal(r.kind, 'spawn-error');
  const empty = await runCommand([], { timeoutMs: 1000 });
  assert.equal(empty.kind, 'spawn-error');
});
