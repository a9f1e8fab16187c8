/**
 * One writer for the whole cluster, in the lab with real MariaDB servers:
 * two Baton nodes (lb1 VRRP master, lb2 backup, `cluster:` between them)
 * in front of two MariaDB servers (db1, db2) with `pick: first` and
 * `failback: false`, the keepalived+HAProxy master-master setup.
 *
 * The story: db1 is killed, comes back, lb2 (the backup) is restarted, then
 * lb1 is stopped so the VIP fails over to lb2. Each node's writer is
 * sampled from its /api/status every 50 ms throughout; both must name the
 * same writer in every sample outside a 1 s window after each injected
 * change, and no write (a client inserting through the VIP all along)
 * reaches db1 after it was killed. Then a forged peer message (wrong
 * secret) is sent to lb2: it changes nothing and is counted in
 * baton_cluster_messages_dropped_total{reason="bad-mac"}.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { labCapability, withLab } from './lab/lab.js';
import { batonCli, epochNow, repoRoot } from './lab/baton-node.js';
import { LabMariaDb } from './lab/mariadb-node.js';
import {
  ADMIN_PORT, CLUSTER_PORT, DB_SETUP, DB_USERS, clusterYaml, disagreements, metricsOf, samplesOf, startClusterNode, startSampler, startWriter, started, waitFor,
  writeServiceOf,
} from './lab/cluster-node.js';
import { mariadbCapability } from './helpers/mariadb.js';
import { sample } from './helpers/metrics.js';

const labCap = labCapability();
const dbCap = mariadbCapability();
const WINDOW_MS = 1000;
const codecPath = join(repoRoot, 'packages/baton/dist/src/cluster/codec.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const writerOf = writeServiceOf;

test('two Baton nodes name one writer through db1 failing and returning, a backup restart and a VIP failover', { timeout: 240_000 }, async (t) => {
  if (!requireCapability(t, labCap.ok, labCap.reason)) return;
  if (!requireCapability(t, dbCap.ok, dbCap.reason)) return;
  await withLab(['lb1', 'lb2', 'db1', 'db2', 'cli'], async (lab) => {
    const vip = lab.ip(100);
    // One after the other: two bootstraps at once on 2 busy cores have failed now and then.
    const db1 = await LabMariaDb.create(lab, 'db1', DB_USERS, DB_SETUP);
    const db2 = await LabMariaDb.create(lab, 'db2', DB_USERS, DB_SETUP);
    const servers = [db1, db2].map((d) => ({ name: d.node, address: d.address }));
    const yaml1 = clusterYaml(lab, { node: 'lb1', peers: ['lb2'], priority: 102, vip, servers, pick: 'first', check: 'mysql' });
    const yaml2 = clusterYaml(lab, { node: 'lb2', peers: ['lb1'], priority: 101, vip, servers, pick: 'first', check: 'mysql' });
    const changes: Array<{ at: number; what: string }> = [];
    let lb1 = startClusterNode(lab, 'lb1', yaml1);
    changes.push({ at: await started(lb1), what: 'lb1 started' });
    let lb2 = startClusterNode(lab, 'lb2', yaml2);
    changes.push({ at: await started(lb2), what: 'lb2 started' });
    const logs = () => `--- lb1\n${lb1.text().slice(-6000)}\n--- lb2\n${lb2.text().slice(-6000)}`;
    try {
      await lb1.waitLine(/VI_1 entering MASTER state/, 10_000);
      await waitFor('both nodes name db1', async () => (await writerOf(lab, 'lb1'))?.writer === 'db1' && (await writerOf(lab, 'lb2'))?.writer === 'db1', 10_000);
      const sampler = startSampler(lab, ['lb1', 'lb2']);
      const writer = startWriter(lab, vip, "'x'");
      await sleep(1000);

      // db1 fails.
      const killedAt = epochNow();
      changes.push({ at: killedAt, what: 'db1 killed' });
      await db1.kill();
      await waitFor('both nodes name db2', async () => (await writerOf(lab, 'lb1'))?.writer === 'db2' && (await writerOf(lab, 'lb2'))?.writer === 'db2', 10_000);
      await sleep(1000);

      // db1 returns: both nodes see it up, and keep db2.
      await db1.start();
      changes.push({ at: epochNow(), what: 'db1 back' });
      const db1Up = async (n: string) => (await writerOf(lab, n))?.servers.find((s) => s.name === 'db1')?.health === 'up';
      await waitFor('db1 up on both nodes', async () => (await db1Up('lb1')) && (await db1Up('lb2')), 10_000);
      await sleep(1000);

      // The backup is restarted (a routine upgrade).
      changes.push({ at: epochNow(), what: 'lb2 stopping' });
      lb2.signal('SIGTERM');
      await lb2.waitExit(10_000);
      lb2 = startClusterNode(lab, 'lb2', yaml2);
      changes.push({ at: await started(lb2), what: 'lb2 restarted' });
      // It asked lb1 before it opened the write port.
      const asked = lb2.lines.findIndex((l) => /writers from peers/.test(l.text));
      const opened = lb2.lines.findIndex((l) => /listening service=write/.test(l.text));
      assert.ok(asked >= 0 && opened > asked, `the peers' writers come before the write port:\n${lb2.text()}`);
      await waitFor('lb2 names a writer', async () => (await writerOf(lab, 'lb2'))?.writer, 10_000);
      await sleep(2500);

      // baton status --why: the backup shows the master's last advert and the
      // master-down arithmetic (v3: skew = (256 - 101) x 100ms / 256 = 60.5ms);
      // both show the writer's epoch and the node that decided it.
      const why = async (node: string) => {
        const r = await lab.exec(node, [process.execPath, batonCli, 'status', '--why', '--admin', `http://${lab.node(node).addr}:${ADMIN_PORT}`], { check: false, timeoutMs: 15_000 });
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const [why1, why2] = [await why('lb1'), await why('lb2')];
      t.diagnostic(`lb2 --why:\n${why2}`);
      const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(why2, new RegExp(`advert from ${esc(lab.node('lb1').addr)} priority 102, [0-9.]+s ago`));
      assert.match(why2, /master down: 3 x 100ms \+ 60\.5ms skew = 360\.5ms; timer [1-9]\d*ms left/);
      for (const text of [why1, why2]) assert.match(text, /service write: writer db2, epoch 2, decided by lb1 \(db1 down\)/);
      assert.match(why2, /this node adopts: adopted from lb1/);
      assert.match(why1, /this node decides/);
      assert.match(why2, /server write\/db1: up since [0-9.]+s; last check ok L7 [0-9.]+ms; counter 3 \(up at >= 2, rise 2, fall 2\)/);

      // A writer switch asked of the backup is refused: its clients are not the ones to hold.
      const refuse = `fetch('http://${lab.node('lb2').addr}:${ADMIN_PORT}/api/services/write/writer',{method:'POST',headers:{'content-type':'application/json'},body:'{}'})` +
        `.then(async r=>console.log(r.status+' '+await r.text()),e=>console.log(String(e)))`;
      const refused = (await lab.exec('cli', [process.execPath, '-e', refuse], { timeoutMs: 5000 })).stdout;
      assert.match(refused, /^409 .*not-deciding.*not the VRRP master of VI_1/, refused);
      assert.equal((await writerOf(lab, 'lb2'))?.writer, 'db2');

      // The VIP fails over to lb2.
      changes.push({ at: epochNow(), what: 'lb1 stopping' });
      lb1.signal('SIGTERM');
      await lb2.waitLine(/VI_1 entering MASTER state/, 10_000);
      await lb1.waitExit(10_000);
      await sleep(1500);
      const after = await writerOf(lab, 'lb2');
      assert.equal(after?.writer, 'db2', 'after the failover lb2 still names db2');

      // A forged message (wrong secret, higher epoch, naming db1) changes nothing.
      const forge = `import(${JSON.stringify(codecPath)}).then(c=>{const b=c.encodeMessage('wrong secret',{node:'lb1',sentAt:Date.now(),nonce:c.newNonce(),kind:'state',
decisions:[{service:'write',writer:'db1',epoch:999,decidedBy:'lb1',reason:'forged',priority:255}]});
const s=require('dgram').createSocket('udp4');s.send(b,${CLUSTER_PORT},${JSON.stringify(lab.node('lb2').addr)},()=>s.close())})`;
      await lab.exec('cli', [process.execPath, '-e', forge], { timeoutMs: 5000 });
      const dropped = await waitFor(
        'the forged message counted',
        async () => {
          const v = sample(await metricsOf(lab, 'lb2'), 'baton_cluster_messages_dropped_total', { reason: 'bad-mac' });
          return v !== undefined && v >= 1 ? v : undefined;
        },
        5000,
      );
      assert.equal(dropped, 1);
      const forgedAfter = await writerOf(lab, 'lb2');
      assert.equal(forgedAfter?.writer, 'db2');
      assert.equal(forgedAfter?.decision?.epoch, after?.decision?.epoch);

      sampler.child.stdin?.end();
      writer.child.stdin?.end();
      await Promise.all([sampler.waitExit(5000), writer.waitExit(10_000)]);

      // Every sample in which both nodes answered, outside the windows, agrees.
      const samples = samplesOf(sampler);
      const { judged: both, disagree } = disagreements(samples, ['lb1', 'lb2'], changes, WINDOW_MS);
      t.diagnostic(`${samples.length} samples, ${both.length} with both nodes answering outside the windows, ${disagree.length} disagreeing`);
      assert.ok(both.length > 60, `too few samples to judge: ${both.length}`);
      assert.deepEqual(disagree.slice(0, 5), [], `the nodes disagree in ${disagree.length} samples; changes: ${JSON.stringify(changes)}`);

      // No write reached db1 after it was killed; writes went on to db2.
      const summary = JSON.parse(writer.lines.find((l) => l.text.startsWith('{'))?.text ?? '{}') as { ok?: number; errors?: number };
      t.diagnostic(`writes: ${JSON.stringify(summary)}`);
      const late = await db1.query(`SELECT COUNT(*) AS n FROM bt.w WHERE at > ${killedAt}`);
      assert.equal(Number(late[0]!.n), 0, 'writes reached db1 after it failed');
      const onDb2 = await db2.query(`SELECT COUNT(*) AS n FROM bt.w WHERE at > ${killedAt}`);
      assert.ok(Number(onDb2[0]!.n) > 50, `too few writes on db2: ${onDb2[0]!.n}`);
    } catch (err) {
      t.diagnostic(logs());
      throw err;
    }
  });
});
