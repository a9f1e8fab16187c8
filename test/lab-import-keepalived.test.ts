/**
 * `baton import-keepalived` end to end in the network-namespace lab: each
 * node of a keepalived pair from the seed setups is replaced by Baton
 * running the imported file, next to a real keepalived running the other
 * node's original file. The imported node becomes backup to the
 * higher-priority keepalived (same VRID, same PASS password, VRRPv2) and
 * takes over when that keepalived stops; its imported track script, notify
 * scripts and proxied service work. A sync group imported from keepalived
 * fails over as a whole when one member's tracked interface goes down.
 *
 * The seed files name their hosts' interfaces, addresses and script paths;
 * each test rewrites exactly those (the `rewrite` tables below) to the lab's
 * before importing or starting keepalived, and changes nothing else, except
 * where a table says so (one priority, so that keepalived is the higher).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCapability } from '@baton/core';
import { hasTool, labCapability, withLab, type Lab } from './lab/lab.js';
import { Proc, batonCli, hasVip, repoRoot, startKeepalived } from './lab/baton-node.js';

/**
 * keepalived's VRRP side only (-P): the lab's kernel has no IPVS, and
 * keepalived's checker process would stop the whole daemon for it; the
 * imported node interoperates with the VRRP side. (For the same reason the
 * keepalived copy of seed 002 drops `lvs_sync_daemon_interface`, which
 * starts IPVS connection sync from the VRRP process.)
 */
function startKeepalivedVrrp(lab: Lab, node: string, conf: string): Proc {
  const file = join(lab.dir, `${node}-keepalived.conf`);
  writeFileSync(file, conf);
  return new Proc(
    lab.spawn(node, [
      'sh', '-c', 'exec keepalived -P -n -l -D -f "$0" -p "$1" -r "$2"',
      file, join(lab.dir, `${node}-${Date.now()}.pid`), join(lab.dir, `${node}-${Date.now()}-vrrp.pid`),
    ]),
  );
}

const cap = labCapability();
const ok = cap.ok && hasTool('keepalived');
const reason = cap.ok ? 'keepalived is not installed' : cap.reason;
const fixtures = join(repoRoot, 'packages/baton/test/fixtures/keepalived/sources');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fixture's text with each [from, to] replaced everywhere; every `from` must occur. */
function rewrite(file: string, table: [string, string][]): string {
  let text = readFileSync(join(fixtures, file), 'utf8');
  for (const [from, to] of table) {
    assert.ok(text.includes(from), `${file} has no "${from}" to rewrite`);
    text = text.split(from).join(to);
  }
  return text;
}

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Runs `baton import-keepalived` on `conf`; returns the output path and the exit code. */
function importConf(lab: Lab, name: string, conf: string): { yamlPath: string; exitCode: number; stderr: string } {
  const confPath = join(lab.dir, `${name}.keepalived.conf`);
  const yamlPath = join(lab.dir, `${name}.yaml`);
  writeFileSync(confPath, conf);
  try {
    execFileSync(process.execPath, [batonCli, 'import-keepalived', confPath, '-o', yamlPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { yamlPath, exitCode: 0, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stderr: string };
    return { yamlPath, exitCode: e.status, stderr: e.stderr };
  }
}

/** Starts Baton on `node` with the imported file (plus `workers: 1`, to keep the lab light). */
async function startImported(lab: Lab, node: string, yamlPath: string, env: Record<string, string> = {}): Promise<Proc> {
  writeFileSync(yamlPath, `${readFileSync(yamlPath, 'utf8')}workers: 1\n`);
  const proc = new Proc(
    lab.spawn(node, ['sh', '-c', 'exec "$0" "$1" start -c "$2"', process.execPath, batonCli, yamlPath], { env: { ...process.env, ...env } }),
  );
  await proc.waitLine(/baton started|cannot start/, 20_000);
  if (proc.count(/cannot start/) > 0) throw new Error(`baton on ${node} did not start:\n${proc.text()}`);
  return proc;
}

async function waitVip(lab: Lab, node: string, vip: string, present: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await hasVip(lab, node, vip)) === present) return;
    await sleep(100);
  }
  assert.fail(`${vip} ${present ? 'never appeared' : 'never left'} on ${node} in ${timeoutMs} ms`);
}

async function waitFile(path: string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (re.test(text)) return text;
    await sleep(100);
  }
  assert.fail(`${path} never matched ${re}: ${existsSync(path) ? readFileSync(path, 'utf8') : '(missing)'}`);
}

test('seed 000: the imported MaxScale node (PASS auth, track script, notify) is backup to a higher keepalived, takes over when it stops, faults when its check fails', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt'], async (lab) => {
    const vip = lab.ip(100);
    const checkDown = join(lab.dir, 'maxscale-down');
    const notifyLog = join(lab.dir, 'notify.log');
    const check = script(join(lab.dir, 'is_maxscale_running.sh'), `[ ! -e '${checkDown}' ]`);
    const notify = script(join(lab.dir, 'notify_script.sh'), `echo "$*" >> '${notifyLog}'`);

    // keepalived runs the guide's backup-host file, made the higher priority.
    const ka = startKeepalived(lab, 'ka', rewrite('seed-000-backup.conf', [['192.168.1.123', vip], ['priority 100', 'priority 200']]));
    await ka.waitLine(/\(VI_1\) Entering MASTER STATE/, 15_000);

    // Baton runs the guide's primary file (track script + notify), imported.
    const imported = importConf(
      lab,
      'bt',
      rewrite('seed-000-primary.conf', [['wlp2s0', 'eth0'], ['192.168.1.13', vip], ['/home/scripts/is_maxscale_running.sh', check], ['/home/user/notify_script.sh', notify]]),
    );
    assert.equal(imported.exitCode, 0, imported.stderr);
    const yaml = readFileSync(imported.yamlPath, 'utf8');
    assert.match(yaml, /auth_pass_env: BATON_AUTH_PASS_VI_1/);
    const bt = await startImported(lab, 'bt', imported.yamlPath, { BATON_AUTH_PASS_VI_1: 'mypass' });

    await bt.waitLine(/VI_1 entering BACKUP state/, 10_000);
    await waitFile(notifyLog, /^INSTANCE VI_1 BACKUP 150$/m, 5000);
    // Longer than Master_Down_Interval (3 s + skew): a backup that rejected keepalived's adverts (auth, version) would take over.
    await sleep(4500);
    assert.equal(bt.count(/VI_1 entering MASTER state/), 0, `baton must stay backup:\n${bt.text()}`);
    assert.equal(await hasVip(lab, 'ka', vip), true);
    assert.equal(await hasVip(lab, 'bt', vip), false);
    // keepalived stayed master (its one BACKUP line is the start) and found nothing wrong with Baton's adverts.
    assert.equal(ka.count(/Entering BACKUP STATE/), 1, ka.text());
    assert.equal(ka.count(/higher priority|passwd|authentication|invalid/i), 0, ka.text());

    // keepalived stops (priority 0): the imported node takes over.
    ka.signal('SIGTERM');
    await ka.waitExit(10_000);
    await bt.waitLine(/VI_1 entering MASTER state/, 5000);
    await waitVip(lab, 'bt', vip, true, 3000);
    await waitFile(notifyLog, /^INSTANCE VI_1 MASTER 150$/m, 5000);

    // The imported track script (weight 0, fall 2) fails: FAULT, the VIP goes.
    writeFileSync(checkDown, '');
    await bt.waitLine(/VI_1 entering FAULT state/, 10_000);
    await waitVip(lab, 'bt', vip, false, 3000);
    await waitFile(notifyLog, /^INSTANCE VI_1 FAULT 150$/m, 5000);
  });
});

test('seed 002: the imported MySQL node proxies the virtual_server, is backup to a higher keepalived, runs notify_backup/notify_master and takes over', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt', 'db1', 'db2', 'cl'], async (lab) => {
    const vip = lab.ip(91);
    const db1 = lab.node('db1').addr;
    const db2 = lab.node('db2').addr;
    const mysqlCheck = script(join(lab.dir, 'mysql-check.sh'), `exec /bin/bash -c 'exec 3<>/dev/tcp/'"$1"'/3306'`);
    const kaIptables = script(join(lab.dir, 'ka-iptables.sh'), `echo "$*" >> '${join(lab.dir, 'ka-iptables.log')}'`);
    const btLog = join(lab.dir, 'bt-iptables.log');
    const btIptables = script(join(lab.dir, 'bt-iptables.sh'), `echo "$*" >> '${btLog}'`);
    for (const db of ['db1', 'db2']) {
      const serve = `require('net').createServer(s=>{s.on('error',()=>{});s.end(${JSON.stringify(db + '\n')})}).listen(3306,'0.0.0.0',()=>console.log('listening'))`;
      await new Proc(lab.spawn(db, [process.execPath, '-e', serve])).waitLine(/listening/, 5000);
    }
    const hosts: [string, string][] = [['192.168.100.91', vip], ['192.168.100.89', db1], ['192.168.100.90', db2], ['/etc/keepalived/mysql-check.sh', mysqlCheck]];

    // keepalived: host01's file (priority 102).
    const ka = startKeepalivedVrrp(
      lab,
      'ka',
      rewrite('seed-002-host01.conf', [...hosts, ['/etc/keepalived/iptables.sh', kaIptables], ['    lvs_sync_daemon_interface eth0\n', '']]),
    );
    await ka.waitLine(/\(VI_1\) Entering MASTER STATE/, 20_000);

    // Baton: host02's file (priority 101), imported. It needs a decision (lb_kind DR, mail): exit 3, and still runs.
    const imported = importConf(lab, 'bt', rewrite('seed-002-host02.conf', [...hosts, ['/etc/keepalived/iptables.sh', btIptables]]));
    assert.equal(imported.exitCode, 3, imported.stderr);
    assert.match(imported.stderr, /lb_kind DR/);
    // As the seed's own setup does: the backup binds the VIP before it holds it.
    await lab.exec('bt', ['sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1']);
    const bt = await startImported(lab, 'bt', imported.yamlPath, { BATON_AUTH_PASS_VI_1: 'password' });

    await bt.waitLine(/VI_1 entering BACKUP state/, 10_000);
    await waitFile(btLog, new RegExp(`^${vip.replace(/\./g, '\\.')} backup$`, 'm'), 5000);
    await sleep(4000);
    assert.equal(bt.count(/VI_1 entering MASTER state/), 0, `baton must stay backup:\n${bt.text()}`);
    assert.equal(await hasVip(lab, 'bt', vip), false);

    ka.signal('SIGTERM');
    await ka.waitExit(10_000);
    await bt.waitLine(/VI_1 entering MASTER state/, 5000);
    await waitVip(lab, 'bt', vip, true, 3000);
    await waitFile(btLog, new RegExp(`^${vip.replace(/\./g, '\\.')} master$`, 'm'), 5000);

    // The client reaches the MySQL servers through the imported service on the VIP.
    const seen = new Set<string>();
    for (let i = 0; i < 10 && seen.size < 2; i++) {
      const r = await lab.exec('cl', [
        process.execPath,
        '-e',
        `const s=require('net').connect(3306,${JSON.stringify(vip)});let b='';s.setTimeout(2000,()=>{console.log('timeout');s.destroy()});s.on('data',d=>b+=d);s.on('end',()=>console.log(b.trim()));s.on('error',e=>console.log(e.code))`,
      ]);
      seen.add(r.stdout.trim());
    }
    assert.deepEqual([...seen].sort(), ['db1', 'db2'], 'round robin over both real servers');
  });
});

test('sync group: one member\'s tracked interface goes down, both instances fail over to the keepalived peer together, and come back together', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt'], async (lab) => {
    const vip1 = lab.ip(101);
    const vip2 = lab.ip(102);
    const conf = (priority: number, track: boolean) => `vrrp_sync_group VG_1 {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${vip1}/24
  }${track ? '\n  track_interface {\n    dummy1\n  }' : ''}
}
vrrp_instance VI_2 {
  state BACKUP
  interface eth0
  virtual_router_id 62
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${vip2}/24
  }
}
`;
    // The tracked link: a veth pair inside bt's namespace (one end is "dummy1"), set down and up by the test.
    await lab.exec('bt', ['ip', 'link', 'add', 'dummy1', 'type', 'veth', 'peer', 'name', 'dummy1p']);
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1p', 'up']);
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'up']);
    const ka = startKeepalived(lab, 'ka', conf(100, false));
    await ka.waitLine(/\(VI_2\) Entering MASTER STATE/, 15_000);
    const imported = importConf(lab, 'bt', conf(150, true));
    assert.equal(imported.exitCode, 0, imported.stderr);
    assert.match(readFileSync(imported.yamlPath, 'utf8'), /vrrp_sync_groups:\n[\s\S]*instances: \[VI_1, VI_2\]/);
    const bt = await startImported(lab, 'bt', imported.yamlPath);

    // Higher priority, preempt: Baton takes both.
    await waitVip(lab, 'bt', vip1, true, 10_000);
    await waitVip(lab, 'bt', vip2, true, 10_000);
    await waitVip(lab, 'ka', vip1, false, 5000);
    await waitVip(lab, 'ka', vip2, false, 5000);

    // Only VI_1 tracks dummy1; the group takes VI_2 along.
    const mark = bt.lines.length;
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'down']);
    await bt.waitLine(/VI_1 entering FAULT state/, 5000, mark);
    await bt.waitLine(/sync group VG_1: VI_2 follows VI_1 into FAULT/, 5000, mark);
    await bt.waitLine(/VI_2 entering FAULT state/, 5000, mark);
    await waitVip(lab, 'ka', vip1, true, 8000);
    await waitVip(lab, 'ka', vip2, true, 8000);
    assert.equal(await hasVip(lab, 'bt', vip1), false);
    assert.equal(await hasVip(lab, 'bt', vip2), false);

    // The link returns: both are released together and preempt back.
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'up']);
    await bt.waitLine(/sync group VG_1: VI_2 released/, 5000, mark);
    await waitVip(lab, 'bt', vip1, true, 10_000);
    await waitVip(lab, 'bt', vip2, true, 10_000);
  });
});

test('a weighted track_interface moves the priority instead of faulting: the keepalived peer preempts, Baton stays BACKUP, and takes back', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt'], async (lab) => {
    const vip = lab.ip(100);
    const conf = (priority: number, track: boolean) => `vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 71
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${vip}/24
  }${track ? '\n  track_interface {\n    dummy1 weight -60\n  }' : ''}
}
`;
    await lab.exec('bt', ['ip', 'link', 'add', 'dummy1', 'type', 'veth', 'peer', 'name', 'dummy1p']);
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1p', 'up']);
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'up']);
    const ka = startKeepalived(lab, 'ka', conf(100, false));
    await ka.waitLine(/\(VI_1\) Entering MASTER STATE/, 15_000);
    const imported = importConf(lab, 'bt', conf(150, true));
    assert.equal(imported.exitCode, 0, imported.stderr);
    assert.match(readFileSync(imported.yamlPath, 'utf8'), /interfaces: \[\{name: dummy1, weight: -60\}\]/);
    const bt = await startImported(lab, 'bt', imported.yamlPath);
    await bt.waitLine(/VI_1 entering MASTER state/, 10_000);

    // 150 - 60 = 90 < 100: keepalived (preempting by default) takes over; Baton goes BACKUP, not FAULT.
    const mark = bt.lines.length;
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'down']);
    await bt.waitLine(/VI_1 entering BACKUP state/, 8000, mark);
    await waitVip(lab, 'ka', vip, true, 5000);
    assert.equal(bt.count(/VI_1 entering FAULT state/), 0, bt.text());

    // The link returns: 150 again, Baton preempts.
    await lab.exec('bt', ['ip', 'link', 'set', 'dummy1', 'up']);
    await bt.waitLine(/VI_1 entering MASTER state/, 8000, mark);
    await waitVip(lab, 'bt', vip, true, 5000);
  });
});

test('sync group: a member that loses its election takes the other member to BACKUP with it, though that one has the higher priority', async (t) => {
  if (!requireCapability(t, ok, reason)) return;
  await withLab(['ka', 'bt'], async (lab) => {
    const vip1 = lab.ip(101);
    const vip2 = lab.ip(102);
    const instance = (name: string, vrid: number, priority: number, vip: string) => `vrrp_instance ${name} {
  state BACKUP
  interface eth0
  virtual_router_id ${vrid}
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${vip}/24
  }
}
`;
    const imported = importConf(lab, 'bt', `vrrp_sync_group VG_1 {\n  group {\n    VI_1\n    VI_2\n  }\n}\n${instance('VI_1', 61, 150, vip1)}${instance('VI_2', 62, 150, vip2)}`);
    assert.equal(imported.exitCode, 0, imported.stderr);
    const bt = await startImported(lab, 'bt', imported.yamlPath);
    await waitVip(lab, 'bt', vip1, true, 10_000);
    await waitVip(lab, 'bt', vip2, true, 10_000);

    // keepalived: higher on VI_1 (200), lower on VI_2 (100).
    const mark = bt.lines.length;
    const ka = startKeepalived(lab, 'ka', `${instance('VI_1', 61, 200, vip1)}${instance('VI_2', 62, 100, vip2)}`);
    await bt.waitLine(/VI_1 entering BACKUP state/, 10_000, mark);
    await bt.waitLine(/sync group VG_1: VI_2 follows VI_1 into BACKUP/, 5000, mark);
    await bt.waitLine(/VI_2 entering BACKUP state/, 5000, mark);
    await waitVip(lab, 'ka', vip1, true, 8000);
    await waitVip(lab, 'ka', vip2, true, 8000);
    // Longer than a master-down interval: Baton's VI_2 (150 > 100) stays backup while its group partner is.
    await sleep(5000);
    assert.equal(bt.count(/VI_2 entering MASTER state/), 1, 'VI_2 was master once, at the start');
    assert.equal(await hasVip(lab, 'bt', vip2), false);

    // keepalived goes: both take over.
    ka.signal('SIGTERM');
    await ka.waitExit(10_000);
    await waitVip(lab, 'bt', vip1, true, 10_000);
    await waitVip(lab, 'bt', vip2, true, 10_000);
  });
});
