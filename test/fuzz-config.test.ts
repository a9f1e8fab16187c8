/**
 * Config fuzzing: seeded mutations (helpers/config-mutate.ts) of the shipped
 * configs (config/*.yaml) and the test fixtures (packages/baton/test/fixtures).
 * - In process, 3,000 mutations through the loader: never a throw, never the
 *   loader's own "cannot validate" (a bug caught by its last-resort catch),
 *   every error with a message and a line.
 * - 60 of them through `baton check`: exit 0 or 1 only, a message either
 *   way, never a stack trace, and the same verdict as the loader.
 * - 25 invalid ones sent to a running daemon with SIGHUP: each is rejected
 *   and GET /api/status (volatile fields removed, see helpers/fuzz.ts) stays
 *   byte for byte the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from 'baton/config';
import { cliPath, repoRoot, startBaton } from './helpers/baton.js';
import { nameBackend } from './helpers/backends.js';
import { freePort } from './helpers/ports.js';
import { mutateConfig, type ConfigMutation } from './helpers/config-mutate.js';
import { prng, stableStatus, statusOf } from './helpers/fuzz.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return name.endsWith('.yaml') ? [p] : [];
  });
}

const sources = [...yamlFiles(join(repoRoot, 'config')).filter((p) => !p.includes('grafana')), ...yamlFiles(join(repoRoot, 'packages/baton/test/fixtures'))].sort();
const texts = sources.map((p) => ({ name: p.slice(repoRoot.length), text: readFileSync(p, 'utf8') }));

function* mutations(seed: number, n: number): Generator<ConfigMutation & { from: string; i: number }> {
  const rand = prng(seed);
  for (let i = 0; i < n; i++) {
    const src = texts[Math.floor(rand() * texts.length)]!;
    // One to three edits on top of each other.
    let m = mutateConfig(src.text, rand);
    const edits = [m.detail];
    for (let k = Math.floor(rand() * 3); k > 0; k--) {
      m = mutateConfig(m.text, rand);
      edits.push(m.detail);
    }
    yield { text: m.text, detail: edits.join('; '), from: src.name, i };
  }
}

test('fuzz: 3,000 mutated configs through the loader: never a throw nor a process warning, each a valid config or errors with messages and lines', { timeout: 60_000 }, async (t) => {
  assert.ok(texts.length >= 10, `only ${texts.length} config files found`);
  // A process warning is a line on stderr outside the log format.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  let ok = 0;
  const started = performance.now();
  for (const m of mutations(7, 3000)) {
    const where = `#${m.i} ${m.from}: ${m.detail}`;
    let r: ReturnType<typeof loadConfigText>;
    try {
      r = loadConfigText(m.text, 'fuzz.yaml', {});
    } catch (err) {
      assert.fail(`${where}: threw ${(err as Error).stack}`);
    }
    if (r.ok) {
      ok++;
      continue;
    }
    assert.ok(r.errors.length > 0, `${where}: not ok but no error`);
    for (const e of r.errors) {
      assert.ok(typeof e.message === 'string' && e.message.length > 0, `${where}: empty message`);
      assert.doesNotMatch(e.message, /^cannot validate/, `${where}: the loader failed on its own: ${e.message}`);
      assert.ok(Number.isInteger(e.line) && e.line >= 0, `${where}: line ${e.line}`);
    }
  }
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings, []);
  t.diagnostic(`3000 mutations in ${(performance.now() - started).toFixed(0)} ms, ${ok} still valid`);
});

function check(file: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, 'check', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('fuzz: 60 mutated configs through `baton check`: exit 0 or 1 with a message, never a stack trace', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-config-'));
  try {
    const all = [...mutations(11, 60)];
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const m = all[next++]!;
        const where = `#${m.i} ${m.from}: ${m.detail}`;
        const file = join(dir, `m${m.i}.yaml`);
        writeFileSync(file, m.text);
        const r = await check(file);
        assert.equal(r.signal, null, `${where}: killed by ${r.signal}`);
        assert.ok(r.code === 0 || r.code === 1, `${where}: exit ${r.code}\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /\n\s+at .*(:\d+:\d+\)?|node:internal)/, `${where}: stack trace\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /\(node:\d+\)/, `${where}: a process warning\n${r.stderr}`);
        const verdict = loadConfigText(m.text, file, { PATH: process.env.PATH ?? '' }).ok;
        if (r.code === 0) {
          assert.match(r.stdout, /: ok \(/, `${where}: exit 0 without "ok"`);
          assert.equal(verdict, true, `${where}: check says ok, the loader does not`);
        } else {
          assert.match(r.stderr, /\d+ error\(s\) in /, `${where}: exit 1 without the error count\n${r.stderr}`);
          assert.equal(verdict, false, `${where}: check says error, the loader does not`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: SIGHUP with 25 invalid mutations of the running config: each rejected, /api/status byte for byte the same', { timeout: 120_000 }, async (t) => {
  const backend = await nameBackend('local');
  const [adminPort, p1, p2] = [await freePort(), await freePort(), await freePort()];
  // config/baton.yaml as shipped, on free ports and with the backend started here.
  const base = readFileSync(join(repoRoot, 'config/baton.yaml'), 'utf8')
    .replace('127.0.0.1:9900', `127.0.0.1:${adminPort}`)
    .replace('127.0.0.1:6446', `127.0.0.1:${p1}`)
    .replace('127.0.0.1:6447', `127.0.0.1:${p2}`)
    .replaceAll('127.0.0.1:3306', `127.0.0.1:${backend.port}`)
    .replace(/^log_level: .*$/m, 'log_level: info');
  assert.ok(loadConfigText(base, 'base', {}).ok, 'the adapted config/baton.yaml is valid');
  const baton = await startBaton(base);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const before = stableStatus(await statusOf(baton.adminUrl));
    const rand = prng(23);
    let sent = 0;
    for (let i = 0; sent < 25 && i < 2000; i++) {
      let m = mutateConfig(base, rand);
      if (rand() < 0.5) m = mutateConfig(m.text, rand);
      if (loadConfigText(m.text, 'fuzz', {}).ok) continue;
      sent++;
      writeFileSync(baton.configPath, m.text);
      const mark = baton.logs.length;
      baton.signal('SIGHUP');
      await baton.waitForLog(/reload rejected, running config kept|config reloaded/, 5000, mark);
      assert.ok(baton.logs.slice(mark).some((l) => /reload rejected, running config kept/.test(l)), `#${i} ${m.detail}: not rejected:\n${baton.logs.slice(mark).join('\n')}`);
      assert.equal(stableStatus(await statusOf(baton.adminUrl)), before, `#${i} ${m.detail}: state changed`);
    }
    assert.equal(sent, 25);
    // The original file is still accepted afterwards: the daemon is not wedged.
    writeFileSync(baton.configPath, base);
    const mark = baton.logs.length;
    baton.signal('SIGHUP');
    await baton.waitForLog(/config reloaded/, 5000, mark);
    assert.equal(stableStatus(await statusOf(baton.adminUrl)), before);
    t.diagnostic(`${sent} invalid configs rejected`);
  } finally {
    await baton.stop();
    await backend.close();
  }
});
