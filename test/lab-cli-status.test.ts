/**
 * `baton status` on a two-node VRRP lab (v3, 100 ms adverts, priorities 150
 * and 100), run the way an operator would: inside each node's namespace,
 * against that node's own admin API on 127.0.0.1:9900. The master says
 * MASTER, the backup BACKUP and names the master's address; once the master
 * is stopped (SIGTERM), the former backup says MASTER and the stopped node's
 * CLI says it cannot reach its daemon. The lab is always destroyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { labCapability, withLab, type ExecResult, type Lab } from './lab/lab.js';
import { batonCli, startBackend, startBaton } from './lab/baton-node.js';

const cap = labCapability();
const ADMIN = 'http://127.0.0.1:9900';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const vi1Line = (text: string) => text.split('\n').find((l) => l.startsWith('  VI_1 '))?.trim().replace(/ +/g, ' ') ?? '(no VI_1 line)';

/** `baton status ARGS` inside the node's namespace. */
function status(lab: Lab, node: string, ...args: string[]): Promise<ExecResult> {
  return lab.exec(node, [process.execPath, batonCli, 'status', '--admin', ADMIN, ...args], { check: false, timeoutMs: 15_000 });
}

interface Vi1 {
  state: string;
  master: string | null;
}

/** VI_1 as `baton status --json` reports it on `node`. */
async function vi1(lab: Lab, node: string): Promise<Vi1 | undefined> {
  const r = await status(lab, node, '--json');
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { vrrp: Array<Vi1 & { name: string }> }).vrrp.find((v) => v.name === 'VI_1');
}

/**
 * Polls until VI_1 on `node` satisfies `cond`. The daemon's view of its VRRP
 * child is refreshed on every transition and once a second.
 */
async function waitVi1(lab: Lab, node: string, cond: (v: Vi1) => boolean, ms: number): Promise<Vi1 | undefined> {
  const deadline = Date.now() + ms;
  let v: Vi1 | undefined;
  while (Date.now() < deadline) {
    v = await vi1(lab, node);
    if (v && cond(v)) return v;
    await sleep(50);
  }
  return v;
}

test('baton status in each node: MASTER on the master, BACKUP on the backup; after SIGTERM the backup says MASTER', { timeout: 90_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2'], async (lab) => {
    const vip = lab.ip(100);
    const [addr1, addr2] = [lab.node('lb1').addr, lab.node('lb2').addr];
    startBackend(lab, 'lb1');
    startBackend(lab, 'lb2');
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150 });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100 });
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP state/, 3000);
    // The backup learns the master's address from its adverts.
    const learnt = await waitVi1(lab, 'lb2', (v) => v.master === addr1, 3000);
    assert.deepEqual(learnt, { ...learnt, state: 'backup', master: addr1 });

    const [s1, s2] = await Promise.all([status(lab, 'lb1'), status(lab, 'lb2')]);
    assert.equal(s1.code, 0, s1.stderr);
    assert.equal(s2.code, 0, s2.stderr);
    t.diagnostic(`lb1: ${vi1Line(s1.stdout)}`);
    t.diagnostic(`lb2: ${vi1Line(s2.stdout)}`);
    assert.match(s1.stdout, /^node lb1 {2}/m);
    assert.match(s2.stdout, /^node lb2 {2}/m);
    // NAME STATE PRIORITY INTERFACE VRID VIPS MASTER FAULTS
    assert.match(s1.stdout, new RegExp(`^ {2}VI_1 +MASTER +150/150 +eth0 +51 +${esc(vip)}/24 +${esc(addr1)} +-$`, 'm'));
    assert.match(s2.stdout, new RegExp(`^ {2}VI_1 +BACKUP +100/100 +eth0 +51 +${esc(vip)}/24 +${esc(addr1)} +-$`, 'm'));
    assert.doesNotMatch(s2.stdout, /MASTER +100\//, 'lb2 is not master');
    assert.match(s1.stdout, /^service app {2}listen 0\.0\.0\.0:7000 /m);
    assert.equal((await vi1(lab, 'lb1'))?.state, 'master');
    assert.equal((await vi1(lab, 'lb2'))?.state, 'backup');

    // SIGTERM of the master: priority 0, lb2 takes over within Skew_Time.
    n1.proc.signal('SIGTERM');
    await n1.proc.waitExit(5000);
    const t0 = performance.now();
    assert.equal((await waitVi1(lab, 'lb2', (v) => v.state === 'master', 5000))?.state, 'master', 'lb2 took over');
    t.diagnostic(`lb2's baton status said MASTER ${(performance.now() - t0).toFixed(0)} ms after lb1 exited`);
    const after = await status(lab, 'lb2');
    assert.equal(after.code, 0, after.stderr);
    t.diagnostic(`lb2 after lb1 stopped: ${vi1Line(after.stdout)}`);
    assert.match(after.stdout, new RegExp(`^ {2}VI_1 +MASTER +100/100 +eth0 +51 +${esc(vip)}/24 +${esc(addr2)} +-$`, 'm'));

    // The stopped node's own CLI: one line, the daemon is not there.
    const gone = await status(lab, 'lb1');
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout, '');
    assert.match(gone.stderr, /^error: cannot reach the Baton admin API at http:\/\/127\.0\.0\.1:9900: connection refused \(is baton running\? is admin\.listen this address\?\)\n$/);
  });
});
