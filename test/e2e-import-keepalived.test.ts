/**
 * The `baton import-keepalived` command as users run it: the Baton config on
 * stdout (or in -o FILE), the summary on stderr, and the exit code: 0 when
 * the output is complete, 3 when something needs a decision, 1 when the
 * keepalived file does not parse (file and line named).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, repoRoot } from './helpers/baton.js';

const fixture = (name: string) => join(repoRoot, 'packages/baton/test/fixtures/keepalived/sources', name);
const run = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'import-keepalived', ...args], { encoding: 'utf8' });

test('complete import: exit 0, the config on stdout, the summary on stderr', () => {
  const r = run(fixture('seed-000-primary.conf'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# Baton config imported from seed-000-primary.conf/);
  assert.match(r.stdout, /auth_pass_env: BATON_AUTH_PASS_VI_1/);
  assert.match(r.stderr, /0 need\(s\) a decision/);
  assert.match(r.stderr, /set BATON_AUTH_PASS_VI_1/);
});

test('an import that needs a decision: exit 3, -o writes the file, stderr names each keyword with file:line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-import-'));
  try {
    const out = join(dir, 'baton.yaml');
    const r = run(fixture('seed-002-host01.conf'), '-o', out);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(readFileSync(out, 'utf8'), /listen: 192\.168\.100\.91:3306/);
    assert.match(r.stderr, /^seed-002-host01\.conf:7: decide: smtp_server mail\.bigpond\.com: Baton sends no e-mail$/m);
    assert.match(r.stderr, /^seed-002-host01\.conf:31: decide: virtual_server .*lb_kind DR/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that does not parse: exit 1 with the file and line, nothing on stdout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-import-'));
  try {
    writeFileSync(join(dir, 'keepalived.conf'), 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_ipaddress {\n    10.0.0.1\n}\n');
    const r = run(join(dir, 'keepalived.conf'));
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: keepalived.conf:1: the block of "vrrp_instance" is never closed (missing "}")\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
