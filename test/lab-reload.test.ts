/**
 * VRRP through SIGHUP in a network-namespace lab:
 * - a master whose notify, garp, preempt, priority and track settings
 *   change stays master, with no transition and no priority-0 advert (the
 *   backup never becomes master), and the new notify script is the one run
 *   at the next transition; a VIP-set change restarts the instance and the
 *   log line says why;
 * - a reload whose VRRP part cannot be applied (an unset auth_pass_env, a
 *   missing interface) changes nothing: the new service does not listen,
 *   /api/status and VRRP are as before, and one error line says why; the
 *   same reload made valid applies everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { sample } from './helpers/metrics.js';
import { labCapability, withLab, type Lab } from './lab/lab.js';
import { SERVICE_PORT, batonYaml, hasVip, startBackend, startBaton, type BatonVrrpOptions } from './lab/baton-node.js';

const cap = labCapability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TRANSITION = /VI_1 entering (MASTER|BACKUP|FAULT) state/;
const EXTRA_PORT = SERVICE_PORT + 10;

async function adminGet(lab: Lab, node: string, path: string): Promise<string> {
  const r = await lab.exec(node, [process.execPath, '-e', `fetch('http://127.0.0.1:9900${path}').then(r=>r.text()).then(t=>process.stdout.write(t))`]);
  return r.stdout;
}

/** What a reload must not change when it is rejected: the services and the VRRP instances with their states. */
async function statusView(lab: Lab, node: string): Promise<unknown> {
  const s = JSON.parse(await adminGet(lab, node, '/api/status')) as {
    services: { name: string; listen: string; servers: { name: string }[] }[];
    vrrp: { name: string; state: string; priority: number; virtual_ips: string[]; interface: string; router_id: number }[];
  };
  return {
    services: s.services.map((x) => ({ name: x.name, listen: x.listen, servers: x.servers.map((y) => y.name) })),
    vrrp: s.vrrp.map((v) => ({ name: v.name, state: v.state, priority: v.priority, vips: v.virtual_ips, interface: v.interface, router_id: v.router_id })),
  };
}

/** Whether something accepts TCP on 127.0.0.1:port inside the node. */
async function listening(lab: Lab, node: string, port: number): Promise<boolean> {
  const script =
    `const s=require('net').connect(${port},'127.0.0.1');s.setTimeout(1000);` +
    `s.on('connect',()=>{console.log('yes');process.exit(0)});s.on('error',()=>{console.log('no');process.exit(0)});` +
    `s.on('timeout',()=>{console.log('no');process.exit(0)});`;
  return (await lab.exec(node, [process.execPath, '-e', script])).stdout.trim() === 'yes';
}

/** Whether the node holds `vip` within `timeoutMs` (the VIP is added right after the MASTER line). */
async function holdsVip(lab: Lab, node: string, vip: string, timeoutMs = 2000): Promise<boolean> {
  for (let waited = 0; waited <= timeoutMs; waited += 100) {
    if (await hasVip(lab, node, vip)) return true;
    await sleep(100);
  }
  return false;
}

/** A notify script that appends its arguments to `file`. */
function notifyScript(lab: Lab, name: string, file: string): string {
  const path = join(lab.dir, name);
  writeFileSync(path, `#!/bin/sh\necho "$@" >> ${file}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('SIGHUP changing notify, garp, preempt, priority and track on a master: no transition, no priority 0; a VIP-set change restarts and says why', { timeout: 90_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1', 'lb2'], async (lab: Lab) => {
    const vip = lab.ip(100);
    const vip2 = lab.ip(101);
    startBackend(lab, 'lb1');
    startBackend(lab, 'lb2');
    const oldLog = join(lab.dir, 'notify-old.log');
    const newLog = join(lab.dir, 'notify-new.log');
    const oldNotify = notifyScript(lab, 'notify-old.sh', oldLog);
    const newNotify = notifyScript(lab, 'notify-new.sh', newLog);
    const master: BatonVrrpOptions = { vip, priority: 150, notify: [oldNotify] };
    const n1 = await startBaton(lab, 'lb1', master);
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100 });
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP state/, 3000);
    await sleep(300);
    const transitions1 = n1.proc.count(TRANSITION);

    // Every setting applied in place changes at once.
    const changed: BatonVrrpOptions = {
      ...master,
      priority: 140,
      notify: [newNotify],
      garpRepeat: 2,
      preemptDelay: '2s',
      trackScripts: [{ command: ['/bin/true'], interval: '200ms', weight: 0 }],
      trackInterfaces: ['eth0'],
    };
    writeFileSync(n1.yamlPath, batonYaml('lb1', changed));
    const mark = n1.proc.lines.length;
    n1.proc.signal('SIGHUP');
    await n1.proc.waitLine(/config reloaded|reload rejected/, 5000, mark);
    // Several master-down intervals (about 0.36 s at 100 ms adverts): a priority 0 would have let lb2 take over.
    await sleep(1500);
    assert.equal(n1.proc.count(TRANSITION), transitions1, `no transition on the master:\n${n1.proc.text()}`);
    assert.equal(n2.proc.count(/VI_1 entering MASTER state/), 0, `the backup never became master:\n${n2.proc.text()}`);
    const line = n1.proc.lines.slice(mark).find((l) => /vrrp instance VI_1 /.test(l.text));
    assert.match(line?.text ?? '', /INFO vrrp instance VI_1 updated in place \(priority, preempt_delay, garp, track, notify\)/);
    assert.equal(await hasVip(lab, 'lb1', vip), true);
    const status = JSON.parse(await adminGet(lab, 'lb1', '/api/status')) as { vrrp: { state: string; priority: number; effective_priority: number }[] };
    assert.equal(status.vrrp[0]?.state, 'master');
    assert.equal(status.vrrp[0]?.priority, 140);
    assert.equal(status.vrrp[0]?.effective_priority, 140);
    const m1 = await adminGet(lab, 'lb1', '/metrics');
    assert.equal(sample(m1, 'baton_vrrp_transitions_total', { instance: 'VI_1', to: 'master' }), 1);

    // A VIP-set change restarts, and says so.
    writeFileSync(n1.yamlPath, batonYaml('lb1', { ...changed, vip: `${vip}/24, ${vip2}` }));
    const mark2 = n1.proc.lines.length;
    n1.proc.signal('SIGHUP');
    const restart = await n1.proc.waitLine(/vrrp instance VI_1 (updated in place|restarted)/, 5000, mark2);
    assert.match(restart.text, /vrrp instance VI_1 restarted \(virtual_ips changed\)/);
    await n1.proc.waitLine(/config reloaded.*vrrp_restarted=VI_1/, 5000, mark2);
    // The restart went through STOP (the new notify script ran for it), then back to master by preemption.
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 5000, mark2);
    assert.equal(await holdsVip(lab, 'lb1', vip2), true);
    await sleep(300);
    assert.match(readFileSync(newLog, 'utf8'), /INSTANCE VI_1 STOP/, 'the notify script from the reload ran');
    assert.equal(existsSync(oldLog) ? /STOP/.test(readFileSync(oldLog, 'utf8')) : false, false, 'the old notify script was not run');
  });
});

test('SIGHUP whose VRRP part cannot apply (unset auth_pass_env, missing interface) changes nothing; made valid, it applies everything', { timeout: 90_000 }, async (t) => {
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  await withLab(['lb1'], async (lab: Lab) => {
    const vip = lab.ip(100);
    const vip2 = lab.ip(102);
    startBackend(lab, 'lb1');
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150 });
    await n1.proc.waitLine(/VI_1 entering MASTER state/, 3000);
    await sleep(1200); // the VRRP child's snapshot reaches the admin API
    const before = await statusView(lab, 'lb1');
    const transitions = n1.proc.count(TRANSITION);

    const base = batonYaml('lb1', { vip, priority: 150 });
    const withExtra = (vrrp2: string) =>
      base.replace(
        'vrrp:',
        `  - name: extra\n    listen: 127.0.0.1:${EXTRA_PORT}\n    servers:\n      - { name: local, address: 127.0.0.1:${SERVICE_PORT + 1} }\nvrrp:`,
      ) + vrrp2;
    const vi2 = (extra: string) =>
      `  - name: VI_2\n    router_id: 52\n    priority: 150\n    version: 2\n    advert_interval: 1s\n    virtual_ips: [${vip2}/24]\n${extra}`;

    const rejected = async (yaml: string, reason: RegExp) => {
      writeFileSync(n1.yamlPath, yaml);
      const mark = n1.proc.lines.length;
      n1.proc.signal('SIGHUP');
      const line = await n1.proc.waitLine(/reload rejected|config reloaded/, 10_000, mark);
      assert.match(line.text, /ERROR reload rejected, running config kept/);
      assert.match(line.text, reason);
      await sleep(500);
      const after = n1.proc.lines.slice(mark);
      assert.deepEqual(after.filter((l) => / ERROR /.test(l.text)).map((l) => l.text), [line.text], 'one error line');
      assert.equal(after.filter((l) => /vrrp instance|listening|health checks started/.test(l.text)).length, 0, after.map((l) => l.text).join('\n'));
      assert.equal(await listening(lab, 'lb1', EXTRA_PORT), false, 'the new service does not listen');
      assert.deepEqual(await statusView(lab, 'lb1'), before, '/api/status unchanged');
      assert.equal(await hasVip(lab, 'lb1', vip2), false);
      assert.equal(n1.proc.count(TRANSITION), transitions, 'VRRP untouched');
    };

    await rejected(withExtra(vi2('    interface: eth0\n    auth_pass_env: BATON_TEST_UNSET_PASS\n')), /auth_pass_env BATON_TEST_UNSET_PASS is not set/);
    await rejected(withExtra(vi2('    interface: eth9\n')), /no interface named eth9/);

    // The same reload, made valid: everything applied, and the line says what.
    writeFileSync(n1.yamlPath, withExtra(vi2('    interface: eth0\n')));
    const mark = n1.proc.lines.length;
    n1.proc.signal('SIGHUP');
    const line = await n1.proc.waitLine(/reload rejected|config reloaded/, 10_000, mark);
    assert.match(line.text, /INFO config reloaded added=extra removed=- changed=- .*vrrp_added=VI_2/);
    assert.equal(await listening(lab, 'lb1', EXTRA_PORT), true);
    await n1.proc.waitLine(/VI_2 entering MASTER state/, 6000, mark);
    assert.equal(await holdsVip(lab, 'lb1', vip2), true);
    assert.equal(n1.proc.count(TRANSITION), transitions, 'VI_1 untouched');
  });
});
