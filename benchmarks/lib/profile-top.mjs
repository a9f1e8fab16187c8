#!/usr/bin/env node
/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): the functions
 * with the most self time, and the total (self + callees) time spent under
 * Baton's own data-plane files, so a slow scenario points at a line.
 *
 *   node profile-top.mjs DIR_OR_FILE [--top N]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const target = args[0];
if (!target) {
  process.stderr.write('usage: node profile-top.mjs DIR_OR_FILE [--top N]\n');
  process.exit(2);
}
const topIdx = args.indexOf('--top');
const TOP = topIdx >= 0 ? Number(args[topIdx + 1]) : 30;

const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(target, f))
  : [target];

const short = (url) => {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const m = /packages\/([^/]+)\/dist\/src\/(.+)$/.exec(u);
  return m ? `${m[1]}/${m[2]}` : u.replace(/^.*node_modules\//, '~/');
};

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Self time per node from the sample stream.
  const selfUs = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0;
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const key = (n) => {
    const cf = n.callFrame;
    return `${cf.functionName || '(anonymous)'} ${short(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
  };

  const self = new Map();
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    self.set(key(n), (self.get(key(n)) ?? 0) + us);
    // Inclusive time: credit each distinct frame on the stack once.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  // Percentages are of busy time: the idle loop between scenarios would
  // otherwise dilute every figure by however long the run sat waiting.
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  const busy = total - idle || 1;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;

  process.stdout.write(`${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy\n`);
  process.stdout.write(`top ${TOP} by self time (% of busy time):\n`);
  for (const [k, us] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`  ${pct(us)}  ${k}\n`);
  process.stdout.write('Baton data-plane frames by total time (self + callees):\n');
  for (const [k, us] of [...inclusive]
    .filter(([k]) => /proxy\/(relay|service|pool|dataplane)\.js|proxy\/balancers\//.test(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)) {
    process.stdout.write(`  ${pct(us)}  ${k}\n`);
  }
  process.stdout.write('\n');
}
