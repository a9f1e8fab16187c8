/**
 * Hitless operations on a two-node lab with `workers: 2` on each node:
 * SIGHUP on the VRRP master (and on the backup) during traffic applies the
 * new config with no VRRP transition on either node and no session lost;
 * restarting the backup does not disturb the master; and the metrics'
 * baton_vrrp_state follows a failover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { requireCapability } from '@baton/core';
import { sample, sum } from './helpers/metrics.js';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import { BACKEND_PORT, SERVICE_PORT, startBaton, type BatonNode, type BatonVrrpOptions, Proc } from './lab/baton-node.js';

const cap = labCapability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A backend that says its node's name and then echoes, so sessions can stay open. */
function startEchoBackend(lab: Lab, node: string): Proc {
  const script =
    `require('net').createServer(s=>{s.on('error',()=>{});s.write(${JSON.stringify(node + '\n')});s.pipe(s)})` +
    `.listen(${BACKEND_PORT},'127.0.0.1',()=>console.log('listening'))`;
  return new Proc(lab.spawn(node, [process.execPath, '-e', script]));
}

/**
 * The client: `held` sessions pinged every 100 ms, plus a stream of short
 * connections, for `durationMs`; prints one JSON summary line at the end.
 */
function startTraffic(lab: Lab, node: string, vip: string, held: number, durationMs: number): Proc {
  const script = `
const net=require('net');
const end=Date.now()+${durationMs};
const r={held:0,lost:0,pings:0,pingFails:0,shortOk:0,shortFail:0,errors:{}};
const bad=(e)=>{r.errors[e]=(r.errors[e]||0)+1};
const sessions=[];
function hold(){return new Promise((res)=>{const s=net.connect(${SERVICE_PORT},${JSON.stringify(vip)});let named=false;
  s.setEncoding('utf8');s.on('data',d=>{if(!named&&d.includes('\\n')){named=true;r.held++;res(s)}else{s.pending=false}});
  s.on('error',e=>{bad('held:'+e.code)});s.on('close',()=>{if(!s.done){r.lost++}});});}
function short(){if(Date.now()>end)return;const s=net.connect(${SERVICE_PORT},${JSON.stringify(vip)});let ok=false;
  s.setTimeout(1000,()=>{bad('short:timeout');s.destroy()});
  s.on('data',d=>{if(!ok){ok=true;r.shortOk++;s.destroy();setTimeout(short,20)}});
  s.on('error',e=>{bad('short:'+e.code)});s.on('close',()=>{if(!ok){r.shortFail++;setTimeout(short,20)}});}
(async()=>{
  for(let i=0;i<${held};i++)sessions.push(await hold());
  console.log('held '+r.held);
  short();short();
  const timer=setInterval(()=>{for(const s of sessions){if(s.pending){r.pingFails++}s.pending=true;r.pings++;s.write('p\\n')}},100);
  while(Date.now()<end)await new Promise(x=>setTimeout(x,50));
  clearInterval(timer);await new Promise(x=>setTimeout(x,300));
  for(const s of sessions){if(s.pending)r.pingFails++;s.done=true;s.destroy()}
  console.log('summary '+JSON.stringify(r));process.exit(0);
})();`;
  return new Proc(lab.spawn(node, [process.execPath, '-e', script]));
}

async function metrics(lab: Lab, node: string): Promise<string> {
  const r = await lab.exec(node, [process.execPath, '-e', "fetch('http://127.0.0.1:9900/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))"]);
  return r.stdout;
}


const TRANSITION = /VI_1 entering (MASTER|BACKUP|FAULT) state/;

test('SIGHUP on the master and the backup during traffic: no transition, no session lost; restarting the backup leaves the master alone; baton_vrrp_state follows a failover', { timeout: 120_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'cli'], async (lab: Lab) => {
    const vip = lab.ip(100);
    const opts = (priority: number): BatonVrrpOptions => ({ vip, priority, workers: 2 });
    startEchoBackend(lab, 'lb1');
    startEchoBackend(lab, 'lb2');
    await sleep(300);
    const n1: BatonNode = await startBaton(lab, 'lb1', opts(150));
    // The backup that is reloaded; later replaced by a restarted process.
    const backup: BatonNode = await startBaton(lab, 'lb2', opts(100));
    let n2 = backup;
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP state/, 3000);
    // The VRRP child reports its counters every second.
    await sleep(1200);

    const m1 = await metrics(lab, 'lb1');
    let m2 = await metrics(lab, 'lb2');
    assert.equal(sample(m1, 'baton_vrrp_state', { instance: 'VI_1', state: 'master' }), 1, 'lb1 reports master');
    assert.equal(sample(m1, 'baton_vrrp_state', { instance: 'VI_1', state: 'backup' }), 0);
    assert.equal(sample(m2, 'baton_vrrp_state', { instance: 'VI_1', state: 'backup' }), 1, 'lb2 reports backup');
    assert.ok((sample(m1, 'baton_vrrp_adverts_sent_total', { instance: 'VI_1' }) ?? 0) > 0);
    assert.ok((sample(m2, 'baton_vrrp_adverts_received_total', { instance: 'VI_1' }) ?? 0) > 0);

    // Before the reloads: each node's transitions, from its log and from its
    // counters (which also show a VRRP instance restarted behind the log's back).
    const transitions1 = n1.proc.count(TRANSITION);
    const transitions2 = backup.proc.count(TRANSITION);
    const counted1 = sum(m1, 'baton_vrrp_transitions_total', { instance: 'VI_1' });
    const counted2 = sum(m2, 'baton_vrrp_transitions_total', { instance: 'VI_1' });
    const heard2 = sample(m2, 'baton_vrrp_adverts_received_total', { instance: 'VI_1' }) ?? 0;
    assert.equal(backup.proc.count(/VI_1 entering BACKUP state/), transitions2, `lb2 has only entered BACKUP:\n${backup.proc.text()}`);
    const traffic = startTraffic(lab, 'cli', vip, 30, 7000);
    await traffic.waitLine(/^held 30$/, 5000);
    await sleep(500);

    // A real change on both nodes: a new service and a longer connect timeout.
    for (const n of [n1, n2]) {
      const yaml = readFileSync(n.yamlPath, 'utf8').replace('connect_timeout: 1s', 'connect_timeout: 2s').replace(
        'vrrp:',
        `  - name: extra\n    listen: 127.0.0.1:${SERVICE_PORT + 10}\n    balance: leastconn\n    servers:\n      - { name: local, address: 127.0.0.1:${BACKEND_PORT} }\nvrrp:`,
      );
      writeFileSync(n.yamlPath, yaml);
    }
    let mark1 = n1.proc.lines.length;
    n1.proc.signal('SIGHUP');
    await n1.proc.waitLine(/config reloaded.*added=extra/, 5000, mark1);
    await sleep(1000);
    const mark2 = backup.proc.lines.length;
    backup.proc.signal('SIGHUP');
    await backup.proc.waitLine(/config reloaded.*added=extra/, 5000, mark2);
    // Past the VRRP child's next counters report.
    await sleep(1200);

    // The backup through its reload, in the same process: no new transition
    // in its log or its counters, still backup, and its VRRP instance kept
    // running (adverts heard kept counting up from where they were).
    const reloaded2 = await metrics(lab, 'lb2');
    assert.equal(backup.proc.count(TRANSITION), transitions2, `no transition on the backup through its reload:\n${backup.proc.text()}`);
    assert.equal(sum(reloaded2, 'baton_vrrp_transitions_total', { instance: 'VI_1' }), counted2, 'the backup counted no transition through its reload');
    assert.equal(sample(reloaded2, 'baton_vrrp_state', { instance: 'VI_1', state: 'backup' }), 1, 'lb2 is still backup after its reload');
    const heardAfter = sample(reloaded2, 'baton_vrrp_adverts_received_total', { instance: 'VI_1' }) ?? 0;
    assert.ok(heardAfter > heard2, `the backup's adverts heard went on counting through its reload: ${heard2} -> ${heardAfter}`);

    // Restart the backup while the master serves.
    n2.proc.signal('SIGTERM');
    await n2.proc.waitExit(5000);
    n2 = await startBaton(lab, 'lb2', opts(100));
    await n2.proc.waitLine(/VI_1 entering BACKUP state/, 3000);

    const summaryLine = await traffic.waitLine(/^summary /, 15_000);
    const summary = JSON.parse(summaryLine.text.slice('summary '.length)) as { held: number; lost: number; pings: number; pingFails: number; shortOk: number; shortFail: number; errors: Record<string, number> };
    t.diagnostic(`traffic: ${JSON.stringify(summary)}`);
    assert.equal(n1.proc.count(TRANSITION), transitions1, `no transition on the master:\n${n1.proc.text()}`);
    assert.equal(n1.proc.count(/VI_1 entering MASTER state/), 1);
    // The restarted backup started as backup and stayed there: it never
    // preempted the master, and the master never stepped down.
    assert.equal(n2.proc.count(TRANSITION), 1, `the restarted backup entered BACKUP once and nothing else:\n${n2.proc.text()}`);
    assert.equal(n2.proc.count(/VI_1 entering MASTER state/), 0);
    const final1 = await metrics(lab, 'lb1');
    assert.equal(sum(final1, 'baton_vrrp_transitions_total', { instance: 'VI_1' }), counted1, 'the master counted no transition through both reloads and the restart');
    assert.equal(sample(final1, 'baton_vrrp_state', { instance: 'VI_1', state: 'master' }), 1, 'lb1 is still master');
    assert.equal(summary.held, 30);
    assert.equal(summary.lost, 0, 'no held session lost');
    assert.equal(summary.pingFails, 0, 'every ping answered');
    assert.equal(summary.shortFail, 0, `no short connection failed: ${JSON.stringify(summary.errors)}`);
    assert.ok(summary.shortOk > 50, `${summary.shortOk} short connections`);
    assert.ok(summary.pings >= 30 * 50);

    // Failover: the master stops; the backup's metrics say master.
    mark1 = n1.proc.lines.length;
    n1.proc.signal('SIGTERM');
    await n2.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await n1.proc.waitExit(5000);
    await sleep(1200);
    m2 = await metrics(lab, 'lb2');
    assert.equal(sample(m2, 'baton_vrrp_state', { instance: 'VI_1', state: 'master' }), 1, 'lb2 reports master after the failover');
    assert.equal(sample(m2, 'baton_vrrp_state', { instance: 'VI_1', state: 'backup' }), 0);
    assert.equal(sample(m2, 'baton_vrrp_transitions_total', { instance: 'VI_1', to: 'master' }), 1);
  });
});
