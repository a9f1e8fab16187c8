/**
 * The CLI as a user runs it: `baton check` on every broken fixture (exit 1,
 * the key path and the line in the message) and on the shipped configs
 * (exit 0); `npm start` on the default config listens on its ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { cliPath, repoRoot } from './helpers/baton.js';

const fixtures = join(repoRoot, 'packages/baton/test/fixtures/bad');

function check(file: string) {
  return spawnSync(process.execPath, [cliPath, 'check', '-c', file], { encoding: 'utf8', env: { ...process.env, HCHECK_PASSWORD: 'x' } });
}

test('baton check: every broken file exits 1 naming the file, line and key path', () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 12, `${files.length} broken fixtures`);
  for (const f of files) {
    const path = join(fixtures, f);
    const r = check(path);
    assert.equal(r.status, 1, `${f}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    // FILE:LINE:COL: key.path: message
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(path + ':'));
    assert.ok(lines.length >= 1, `${f}: no error line in\n${r.stderr}`);
    for (const line of lines) {
      const m = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)(?::(\\d+))?: (.+)$`).exec(line);
      assert.ok(m, `${f}: malformed error line ${line}`);
      const lineNo = Number(m[1]);
      const total = readFileSync(path, 'utf8').split('\n').length;
      assert.ok(lineNo >= 1 && lineNo <= total, `${f}: line ${lineNo} out of range`);
    }
  }
});

test('baton check: a missing file exits 1 with a clear message', () => {
  const r = check('/nonexistent/baton.yaml');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read/);
});

test('baton check: the shipped configs are valid', () => {
  for (const f of ['baton.yaml', 'galera-3-nodes.yaml', 'mysql-master-master.yaml']) {
    const r = check(join(repoRoot, 'config', f));
    assert.equal(r.status, 0, `${f}:\n${r.stderr}`);
    assert.match(r.stdout, /: ok \(/);
  }
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

test('npm start runs config/baton.yaml and listens on its ports', { timeout: 120_000 }, async () => {
  const busy = (await Promise.all([6446, 6447].map(portOpen))).some(Boolean);
  assert.equal(busy, false, 'ports 6446/6447 must be free for this test');
  const child = spawn('npm', ['start', '--silent'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const deadline = Date.now() + 90_000;
    while (!/baton started/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /baton started/, out);
    assert.equal(await portOpen(6446), true);
    assert.equal(await portOpen(6447), true);
  } finally {
    // npm runs node as a child: signal the whole group, which this test created.
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* already gone */
    }
    await exited;
  }
});
