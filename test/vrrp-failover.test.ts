/**
 * VRRP acceptance, two Baton nodes on one lab segment (v3, 100 ms adverts,
 * priorities 150 and 100) and a client in its own namespace: election,
 * failover on SIGKILL and on SIGTERM with their time bounds (RFC 5798 §6.1:
 * Master_Down_Interval = 3 × interval + Skew_Time, Skew_Time = (256 −
 * priority) × interval / 256), client reconnect through gratuitous ARP,
 * preemption (on, off, delayed) and split brain. One lab for all of it, to
 * keep the suite short; the lab is always destroyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCapability } from '@baton/core';
import { vipLifetimeSeconds } from '@baton/vrrp';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import {
  AddrWatch,
  clientResults,
  epochNow,
  hasVip,
  startBackend,
  startBaton,
  startClient,
  type BatonNode,
  type BatonVrrpOptions,
} from './lab/baton-node.js';

const cap = labCapability();
const INTERVAL_MS = 100;
const skewMs = (priority: number) => ((256 - priority) * INTERVAL_MS) / 256;
const masterDownMs = (priority: number) => 3 * INTERVAL_MS + skewMs(priority);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** First successful connect served by `node` at or after `since`. */
function firstServedBy(results: ReturnType<typeof clientResults>, node: string, since: number): number | undefined {
  return results.find((r) => r.at >= since && r.node === node)?.at;
}

test('two Baton nodes: election, failover, reconnect, preemption, split brain', { timeout: 120_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2', 'cli'], async (lab: Lab) => {
    const vip = lab.ip(100);
    const base: Omit<BatonVrrpOptions, 'priority'> = { vip };
    startBackend(lab, 'lb1');
    startBackend(lab, 'lb2');
    const w1 = new AddrWatch(lab, 'lb1');
    const w2 = new AddrWatch(lab, 'lb2');
    await sleep(300);

    // Election: the 150 owns the VIP, the 100 is backup.
    let n1: BatonNode = await startBaton(lab, 'lb1', { ...base, priority: 150 });
    const n2 = await startBaton(lab, 'lb2', { ...base, priority: 100 });
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP state/, 3000);
    await sleep(5 * INTERVAL_MS);
    assert.equal(await hasVip(lab, 'lb1', vip), true, 'lb1 owns the VIP');
    assert.equal(await hasVip(lab, 'lb2', vip), false, 'lb2 does not');
    assert.equal(n2.proc.count(/entering MASTER/), 0, 'lb2 never became master');

    // SIGKILL of the master, with a client that has lb1's MAC cached.
    const client = startClient(lab, 'cli', vip, 20_000);
    await client.waitLine(/"node":"lb1"/, 3000);
    let mark = w2.mark;
    const mark1 = w1.mark;
    let killedAt = epochNow();
    // The daemon and its VRRP child at once: a crash with no priority-0 advert, only the master-down timer.
    n1.proc.signalGroup('SIGKILL');
    const added = await w2.wait(vip, true, 3000, mark);
    const killMoveMs = added.at - killedAt;
    await client.waitLine(/"node":"lb2"/, 3000);
    const killReconnectMs = (firstServedBy(clientResults(client), 'lb2', killedAt) ?? Infinity) - added.at;
    t.diagnostic(`SIGKILL: VIP moved after ${killMoveMs.toFixed(0)} ms (bound ${(masterDownMs(100) + 100).toFixed(0)}), client reconnected ${killReconnectMs.toFixed(0)} ms after the move`);
    assert.ok(killMoveMs <= masterDownMs(100) + 100, `SIGKILL failover ${killMoveMs} ms`);
    assert.ok(killReconnectMs <= 1000, `reconnect ${killReconnectMs} ms`);

    // Nothing of lb1 runs to take its VIP off: its kernel drops it when the lifetime the master
    // renewed every second runs out (the kernel checks lifetimes about once a second).
    const lifetimeMs = vipLifetimeSeconds(INTERVAL_MS) * 1000;
    const dropped = await w1.wait(vip, false, lifetimeMs + 3000, mark1);
    const dropMs = dropped.at - killedAt;
    t.diagnostic(`SIGKILL: the dead node's kernel dropped the VIP after ${dropMs.toFixed(0)} ms (lifetime ${lifetimeMs} ms)`);
    assert.ok(dropMs >= lifetimeMs - 1100 && dropMs <= lifetimeMs + 1500, `the VIP left the dead node after ${dropMs} ms, lifetime ${lifetimeMs} ms`);

    // Restart of the 150: a leftover VIP (as an older Baton, which added VIPs for good, would
    // leave it) is removed, then it preempts.
    await lab.exec('lb1', ['ip', 'addr', 'add', `${vip}/24`, 'dev', 'eth0']);
    mark = w1.mark;
    const restartAt = epochNow();
    n1 = await startBaton(lab, 'lb1', { ...base, priority: 150 });
    await n1.proc.waitLine(/removed virtual ips left/, 1000);
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await sleep(3 * INTERVAL_MS);
    assert.equal(await hasVip(lab, 'lb1', vip), true, 'lb1 took the VIP back');
    assert.equal(await hasVip(lab, 'lb2', vip), false, 'lb2 released it');
    t.diagnostic(`preempt: lb1 master ${((await w1.wait(vip, true, 100, mark)).at - restartAt).toFixed(0)} ms after its restart began`);

    // SIGTERM of the master: priority 0, the backup takes over after Skew_Time.
    await client.waitLine(/"node":"lb1"/, 3000, client.lines.length);
    mark = w2.mark;
    killedAt = epochNow();
    n1.proc.signal('SIGTERM');
    const added2 = await w2.wait(vip, true, 3000, mark);
    const termMoveMs = added2.at - killedAt;
    await client.waitLine(/"node":"lb2"/, 3000, client.lines.length - 1);
    const termReconnectMs = (firstServedBy(clientResults(client), 'lb2', killedAt) ?? Infinity) - added2.at;
    await n1.proc.waitExit(5000);
    t.diagnostic(`SIGTERM: VIP moved after ${termMoveMs.toFixed(0)} ms (bound ${(skewMs(100) + 100).toFixed(0)}), client reconnected ${termReconnectMs.toFixed(0)} ms after the move`);
    assert.ok(termMoveMs <= skewMs(100) + 100, `SIGTERM failover ${termMoveMs} ms`);
    assert.ok(termReconnectMs <= 1000, `reconnect ${termReconnectMs} ms`);
    assert.equal(await hasVip(lab, 'lb1', vip), false, 'a stopped master leaves no VIP');
    client.signal('SIGTERM');

    // preempt: false: the 150 comes back and stays backup.
    n1 = await startBaton(lab, 'lb1', { ...base, priority: 150, preempt: false });
    await n1.proc.waitLine(/VI_1 entering BACKUP state/, 3000);
    await sleep(1000);
    assert.equal(n1.proc.count(/entering MASTER/), 0, 'no preemption with preempt: false');
    assert.equal(await hasVip(lab, 'lb2', vip), true);
    n1.proc.signal('SIGTERM');
    await n1.proc.waitExit(5000);

    // preempt_delay: 2s: it waits 2 s (counted from its own start) before it takes over.
    mark = w1.mark;
    n1 = await startBaton(lab, 'lb1', { ...base, priority: 150, preemptDelay: '2s' });
    const backupAt = (await n1.proc.waitLine(/VI_1 entering BACKUP state/, 3000)).at;
    const preemptAt = (await w1.wait(vip, true, 5000, mark)).at;
    const delayMs = preemptAt - backupAt;
    t.diagnostic(`preempt_delay 2s: took the VIP ${delayMs.toFixed(0)} ms after entering BACKUP`);
    assert.ok(delayMs >= 1900 && delayMs <= 2600, `preempt delay ${delayMs} ms`);

    // Split brain: lb2's cable cut, both become master; healed, one master within 2 intervals.
    await sleep(3 * INTERVAL_MS);
    mark = n2.proc.lines.length;
    await lab.cutLink('lb2');
    await n2.proc.waitLine(/VI_1 entering MASTER state/, 3000, mark);
    assert.equal(await hasVip(lab, 'lb1', vip), true, 'lb1 still master while cut');
    assert.equal(await hasVip(lab, 'lb2', vip), true, 'lb2 master while cut');
    const m2 = w2.mark;
    await lab.healLink('lb2');
    const healedAt = epochNow();
    const removed = await w2.wait(vip, false, 3000, m2);
    const healMs = removed.at - healedAt;
    t.diagnostic(`split brain healed: lb2 released the VIP ${healMs.toFixed(0)} ms after the link came back`);
    assert.ok(healMs <= 2 * INTERVAL_MS + 100, `split brain resolution ${healMs} ms`);
    assert.equal(await hasVip(lab, 'lb1', vip), true);
  });
});
