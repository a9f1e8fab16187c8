/**
 * The native engine under stress (engine-stress-child.ts): 10,000 sessions
 * with random chunk sizes and pauses, half-closes, client and backend
 * resets, slow readers and silent backends, run twice: with the addon as
 * built, and with the addon rebuilt under AddressSanitizer + UBSan (a second
 * build directory, loaded by a child node with libasan preloaded; leak
 * detection is off because it would report Node itself). Each run must
 * end with every session closed, no pipe in use, the same number of open
 * descriptors as before, every echo intact, and no sanitizer report.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCapability } from '@baton/core';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const child = join(pkg, 'dist', 'test', 'engine-stress-child.js');

interface Outcome {
  results: Record<string, number>;
  settled: boolean;
  before: number;
  after: number;
  stats: { sessions: number; pipesInUse: number; pipesIdle: number };
  accepted: number;
  active: number;
  server: { sessionErrors: number };
  addon: string;
  asan: boolean;
  seed: number;
}

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 300_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function check(t: TestContext, out: { code: number | null; stdout: string; stderr: string }, sessions: number): Outcome {
  assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(out.stderr), `sanitizer report:\n${out.stderr.slice(0, 4000)}`);
  assert.equal(out.code, 0, out.stderr.slice(0, 4000));
  const o = JSON.parse(out.stdout.trim().split('\n').pop()!) as Outcome;
  // A failure names its seed: STRESS_SEED=<seed> replays the same choices.
  t.diagnostic(`stress seed ${o.seed}`);
  const r = o.results;
  const count = (prefix: string) => Object.entries(r).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  assert.equal(count(''), sessions, JSON.stringify(r));
  assert.equal(count('echo:'), r['echo:ok'] ?? 0, `every echo intact: ${JSON.stringify(r)}`);
  assert.equal(count('slow:'), r['slow:ok'] ?? 0, `every slow reader got all: ${JSON.stringify(r)}`);
  assert.equal(count('server-reset:'), r['server-reset:closed'] ?? 0, `a backend reset closes its client: ${JSON.stringify(r)}`);
  assert.ok((r['echo:ok'] ?? 0) > sessions / 3);
  assert.ok(o.settled, 'every session closed');
  assert.equal(o.stats.sessions, 0);
  assert.equal(o.stats.pipesInUse, 0, 'no pipe left in use');
  assert.equal(o.stats.pipesIdle, 0, 'no pipe kept once every session closed');
  assert.equal(o.active, 0);
  assert.equal(o.accepted, sessions + 1);
  // Resets (either side) are session errors, counted once each; nothing else is.
  assert.equal(o.server.sessionErrors, (r['server-reset:closed'] ?? 0) + (r['client-reset:done'] ?? 0));
  assert.equal(o.after, o.before, `descriptors before ${o.before}, after ${o.after}`);
  return o;
}

test('engine stress: 10,000 sessions of random chunks, pauses, half-closes, resets, slow readers; every fd given back', async (t) => {
  const o = check(t, await run({ STRESS_SESSIONS: '10000' }), 10_000);
  assert.equal(o.asan, false);
});

test('engine stress under AddressSanitizer + UBSan: no report, every fd given back', async (t) => {
  let libasan = '';
  try {
    libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  } catch {
    libasan = '';
  }
  const nodeGyp = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!requireCapability(t, libasan.startsWith('/') && existsSync(libasan) && existsSync(nodeGyp), 'needs gcc with libasan and npm\'s node-gyp')) return;
  // The second build directory: a copy of the sources, built with the sanitizers.
  const dir = join(pkg, 'build', 'sanitize');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(pkg, 'native'), join(dir, 'native'), { recursive: true });
  cpSync(join(pkg, 'binding.gyp'), join(dir, 'binding.gyp'));
  execFileSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${dirname(dirname(process.execPath))}`, '--silent'], { cwd: dir, env: { ...process.env, BATON_SANITIZE: '1' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const addon = join(dir, 'build', 'Release', 'relay_engine.node');
  const o = check(
    t,
    await run({
      STRESS_SESSIONS: '10000',
      BATON_ENGINE_ADDON: addon,
      LD_PRELOAD: libasan,
      ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    }),
    10_000,
  );
  assert.equal(o.addon, addon);
  assert.equal(o.asan, true, 'libasan is mapped in the child');
});
