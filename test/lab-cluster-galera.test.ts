/**
 * One writer for the whole cluster with Galera: two Baton nodes in front of
 * a 3-node Galera cluster (all in lab namespaces), `pick: galera-index`,
 * `failback: false`, everything started in reverse order: the Galera nodes
 * g3, g2, g1 (g3 bootstraps), then the Baton node with the lower priority
 * before the other.
 *
 * The story: the writer (lowest wsrep_local_index) is killed; the cluster
 * re-forms with new indexes and both nodes move to one new writer; the old
 * writer rejoins (with the highest index: Galera orders members by
 * seniority). Then the new writer is made read-only for a moment (an
 * operator's mistake, a failing check): the writer moves to a third node
 * and, with failback: false, stays there when the second comes back with
 * the lowest index. So the agreed writer is not the one a node deciding
 * alone would pick. The VRRP backup is restarted (on its own it would pick
 * the lowest index); the VRRP master is stopped so the VIP fails over. Both nodes
 * must name the same writer in every 50 ms sample outside a 1 s window after
 * each injected change, the new writer must stay the writer to the end, and
 * no write through the VIP may land on the old writer after it was killed
 * (each row records @@wsrep_node_name, and Galera replicates every row to
 * every node, so one query tells where each write went).
 *
 * donor_ok: the node that feeds the rejoining one (IST) stays up, so the
 * change under test is the rejoin's new indexes, not a donor outage (which
 * is a writer change of its own, decided once and adopted like any other).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import { epochNow, type Proc } from './lab/baton-node.js';
import { startLabGalera } from './lab/galera-node.js';
import { DB_SETUP, DB_USERS, clusterYaml, disagreements, samplesOf, startClusterNode, startSampler, startWriter, started, waitFor, writeServiceOf } from './lab/cluster-node.js';
import { galeraCapability } from './helpers/galera.js';

const labCap = labCapability();
const galeraCap = galeraCapability();
const WINDOW_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two Baton nodes name one Galera writer through its death and return, a backup restart and a VIP failover, started in reverse order', { timeout: 420_000 }, async (t) => {
  if (!requireCapability(t, labCap.ok, labCap.reason)) return;
  if (!requireCapability(t, galeraCap.ok, galeraCap.reason)) return;
  await withLab(['lb1', 'lb2', 'g1', 'g2', 'g3', 'cli'], async (lab: Lab) => {
    const vip = lab.ip(100);
    const galera = await startLabGalera(lab, ['g3', 'g2', 'g1'], DB_USERS, DB_SETUP);
    const byName = new Map(galera.map((g) => [g.name, g]));
    // Config order g1, g2, g3: the reverse of the start order.
    const servers = ['g1', 'g2', 'g3'].map((n) => ({ name: n, address: byName.get(n)!.address }));
    const yamls: Record<string, string> = {
      lb1: clusterYaml(lab, { node: 'lb1', peers: ['lb2'], priority: 102, vip, servers, pick: 'galera-index', check: 'galera', intervalMs: 300, donorOk: true, requireWritable: true }),
      lb2: clusterYaml(lab, { node: 'lb2', peers: ['lb1'], priority: 101, vip, servers, pick: 'galera-index', check: 'galera', intervalMs: 300, donorOk: true, requireWritable: true }),
    };
    const changes: Array<{ at: number; what: string }> = [];
    const procs: Record<string, Proc> = {};
    for (const node of ['lb2', 'lb1']) {
      procs[node] = startClusterNode(lab, node, yamls[node]!);
      changes.push({ at: await started(procs[node]!), what: `${node} started` });
    }
    const logs = () => Object.entries(procs).map(([n, p]) => `--- ${n}\n${p.text().slice(-5000)}`).join('\n');
    try {
      const writerOn = async (n: string) => (await writeServiceOf(lab, n))?.writer ?? null;
      const agreed = async () => {
        const [a, b] = [await writerOn('lb1'), await writerOn('lb2')];
        return a !== null && a === b ? a : undefined;
      };
      const first = await waitFor('both nodes name one writer', agreed, 20_000);
      const indexes = Object.fromEntries(await Promise.all(galera.map(async (g) => [g.name, await g.status('wsrep_local_index')] as const)));
      t.diagnostic(`first writer ${first}; indexes ${JSON.stringify(indexes)}`);
      assert.equal(indexes[first], 0, 'the first writer has wsrep_local_index 0');
      const sampler = startSampler(lab, ['lb1', 'lb2']);
      const writer = startWriter(lab, vip, '@@wsrep_node_name');
      await sleep(1500);

      // The writer dies.
      const killedAt = epochNow();
      changes.push({ at: killedAt, what: `${first} killed` });
      await byName.get(first)!.kill();
      const second = await waitFor('both nodes name a new writer', async () => {
        const w = await agreed();
        return w && w !== first ? w : undefined;
      }, 20_000);
      await sleep(1500);

      // It rejoins: both nodes keep the new writer (failback: false), whatever the new indexes.
      await byName.get(first)!.restart();
      changes.push({ at: epochNow(), what: `${first} back` });
      const upOn = async (n: string) => (await writeServiceOf(lab, n))?.servers.find((s) => s.name === first)?.health === 'up';
      await waitFor(`${first} up on both nodes`, async () => (await upOn('lb1')) && (await upOn('lb2')), 30_000);
      const after = Object.fromEntries(await Promise.all(galera.map(async (g) => [g.name, await g.status('wsrep_local_index')] as const)));
      t.diagnostic(`second writer ${second}; indexes after the rejoin ${JSON.stringify(after)}`);
      await sleep(1500);

      // The second writer fails its checks for a moment; the third stays the writer after it is back.
      // The rejoin gave the nodes new indexes (they follow the node UUIDs, new at each start). For the
      // last step to mean anything, the third writer must not hold index 0: a node deciding alone
      // would then pick another. So the index-0 node, when it is not the second writer, fails its
      // checks first and stays down until the third writer is named.
      const lowest = Object.entries(after).find(([, i]) => i === 0)?.[0];
      assert.ok(lowest, `no node with index 0: ${JSON.stringify(after)}`);
      const healthOn = async (n: string, s: string) => (await writeServiceOf(lab, n))?.servers.find((x) => x.name === s)?.health;
      const parked = lowest !== second ? lowest : undefined;
      if (parked) {
        changes.push({ at: epochNow(), what: `${parked} read-only` });
        await byName.get(parked)!.query('SET GLOBAL read_only = ON');
        await waitFor(`${parked} down on both nodes`, async () => (await healthOn('lb1', parked)) !== 'up' && (await healthOn('lb2', parked)) !== 'up', 20_000);
        assert.equal(await agreed(), second, `parking ${parked} (not the writer) kept ${second} the writer`);
      }
      changes.push({ at: epochNow(), what: `${second} read-only` });
      await byName.get(second)!.query('SET GLOBAL read_only = ON');
      const third = await waitFor('both nodes name a third writer', async () => {
        const w = await agreed();
        return w && w !== second ? w : undefined;
      }, 20_000);
      // From here on no write may land on the second (before, the checks had yet to notice; app has SUPER, which read_only lets write).
      const movedAt = epochNow();
      await byName.get(second)!.query('SET GLOBAL read_only = OFF');
      changes.push({ at: epochNow(), what: `${second} writable` });
      if (parked) {
        await byName.get(parked)!.query('SET GLOBAL read_only = OFF');
        changes.push({ at: epochNow(), what: `${parked} writable` });
      }
      for (const s of parked ? [second, parked] : [second]) {
        await waitFor(`${s} up on both nodes`, async () => (await healthOn('lb1', s)) === 'up' && (await healthOn('lb2', s)) === 'up', 20_000);
      }
      const indexesNow = Object.fromEntries(await Promise.all(galera.map(async (g) => [g.name, await g.status('wsrep_local_index')] as const)));
      t.diagnostic(`third writer ${third}; indexes ${JSON.stringify(indexesNow)}`);
      assert.notEqual(indexesNow[third], 0, 'the agreed writer is not the lowest index: a node deciding alone would pick another');
      await sleep(1500);

      // The VRRP backup restarts.
      const vrrpState = async (n: string) => {
        const script = `fetch('http://${lab.node(n).addr}:9900/api/status').then(r=>r.json()).then(j=>console.log(j.vrrp[0].state),()=>console.log('-'))`;
        return (await lab.exec('cli', [process.execPath, '-e', script], { check: false })).stdout.trim();
      };
      const masterNode = await waitFor('a VRRP master', async () => {
        for (const n of ['lb1', 'lb2']) if ((await vrrpState(n)) === 'master') return n;
        return undefined;
      }, 10_000);
      const backupNode = masterNode === 'lb1' ? 'lb2' : 'lb1';
      t.diagnostic(`master ${masterNode}, backup ${backupNode}`);
      changes.push({ at: epochNow(), what: `${backupNode} stopping` });
      procs[backupNode]!.signal('SIGTERM');
      await procs[backupNode]!.waitExit(10_000);
      procs[backupNode] = startClusterNode(lab, backupNode, yamls[backupNode]!);
      changes.push({ at: await started(procs[backupNode]!), what: `${backupNode} restarted` });
      await waitFor(`${backupNode} names a writer`, () => writerOn(backupNode), 15_000);
      await sleep(2500);

      // The VIP fails over to the restarted node.
      changes.push({ at: epochNow(), what: `${masterNode} stopping` });
      procs[masterNode]!.signal('SIGTERM');
      await procs[backupNode]!.waitLine(/VI_1 entering MASTER state/, 10_000);
      await procs[masterNode]!.waitExit(10_000);
      await sleep(2000);
      assert.equal(await writerOn(backupNode), third, `after the failover ${backupNode} still names ${third}`);

      sampler.child.stdin?.end();
      writer.child.stdin?.end();
      await Promise.all([sampler.waitExit(5000), writer.waitExit(10_000)]);
      const { judged, disagree } = disagreements(samplesOf(sampler), ['lb1', 'lb2'], changes, WINDOW_MS);
      t.diagnostic(`${judged.length} samples with both nodes answering outside the windows, ${disagree.length} disagreeing`);
      assert.ok(judged.length > 60, `too few samples to judge: ${judged.length}`);
      assert.deepEqual(disagree.slice(0, 5), [], `the nodes disagree in ${disagree.length} samples; changes: ${JSON.stringify(changes)}`);

      t.diagnostic(`writes: ${writer.lines.find((l) => l.text.startsWith('{'))?.text ?? '-'}`);
      const landed = await byName.get(third)!.query(`SELECT node, COUNT(*) AS n FROM bt.w WHERE at > ${killedAt} GROUP BY node`);
      t.diagnostic(`writes after the kill, by node: ${JSON.stringify(landed)}`);
      assert.deepEqual(landed.filter((r) => r.node === first), [], `writes reached ${first} after it was killed`);
      const lateOnSecond = await byName.get(third)!.query(`SELECT COUNT(*) AS n FROM bt.w WHERE at > ${movedAt} AND node = '${second}'`);
      assert.equal(Number(lateOnSecond[0]!.n), 0, `writes reached ${second} after it failed its checks`);
      assert.ok(Number(landed.find((r) => r.node === third)?.n ?? 0) > 50, `too few writes on ${third}`);
    } catch (err) {
      t.diagnostic(logs());
      throw err;
    }
  });
});
