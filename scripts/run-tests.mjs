#!/usr/bin/env node
// Runs every test with node:test: first the packages' unit and adapter tests
// (two at a time), then the end-to-end tests in test/ one file at a time (they
// start real daemons, databases and network namespaces). Prints the spec
// report and a closing line "tests: N passed, N failed, N skipped".
// Under CI=true a skipped test counts as a failure: nothing may be skipped
// for a missing tool or privilege there.
//
// Usage: node scripts/run-tests.mjs [filter]   (filter: substring of a test file path)
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const filter = process.argv[2];

function findTests(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out.sort();
}

const packages = readdirSync(join(root, 'packages')).flatMap((p) => findTests(join(root, 'packages', p, 'dist', 'test')));
const e2e = findTests(join(root, 'test', 'dist'));
const pick = (files) => (filter ? files.filter((f) => relative(root, f).includes(filter)) : files);

const counts = { passed: 0, failed: 0, skipped: 0 };
async function phase(files, concurrency) {
  if (files.length === 0) return;
  const stream = run({ files, concurrency, timeout: 5 * 60_000 });
  stream.on('test:pass', (e) => {
    if (e.details?.type === 'suite') return;
    if (e.skip || e.todo) counts.skipped++;
    else counts.passed++;
  });
  stream.on('test:fail', (e) => {
    if (e.details?.type === 'suite') return;
    counts.failed++;
  });
  await new Promise((resolve, reject) => {
    const out = stream.compose(spec);
    out.on('data', (chunk) => process.stdout.write(chunk));
    out.on('end', resolve);
    out.on('error', reject);
  });
}

const started = Date.now();
await phase(pick(packages), 2);
await phase(pick(e2e), 1);
const ci = process.env.CI === 'true' || process.env.CI === '1';
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (counts.passed + counts.failed + counts.skipped === 0) {
  console.log('no test files found: run `npm run build` first');
  process.exitCode = 1;
}
if (ci && counts.skipped > 0) {
  console.log(`CI=true: ${counts.skipped} test(s) skipped; under CI nothing may skip`);
  process.exitCode = 1;
}
if (counts.failed > 0) process.exitCode = 1;
console.log(`(${secs}s)`);
console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
