/**
 * `workers: 2` through `baton start`: round robin holds across the worker
 * processes, operator changes reach every worker at once, and a worker
 * killed under load is restarted while the other keeps its sessions and the
 * listener keeps accepting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { requireCapability } from '@baton/core';
import { startBaton } from './helpers/baton.js';
import { fetchName, nameBackend, openSession, sleep, tally, times, ping, type Backend } from './helpers/backends.js';
import { childPids, connectionsByPid, setServerState, api } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';

const hasSs = spawnSync('ss', ['-V']).status === 0;

async function setup(n = 4) {
  const backends: Backend[] = [];
  for (let i = 1; i <= n; i++) backends.push(await nameBackend(`s${i}`));
  const port = await freePort();
  const baton = await startBaton(`node: w
workers: 2
shutdown_timeout: 1s
services:
  - name: read
    listen: 127.0.0.1:${port}
    balance: roundrobin
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`);
  await baton.waitForLog(/worker started.*index=1/);
  await baton.waitForLog(/worker started.*index=0/);
  return {
    backends,
    port,
    baton,
    async close() {
      await baton.stop();
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

test('workers: 2: 400 held connections over 4 backends are 100 each, and both workers accepted some', async (t) => {
  if (!requireCapability(t, hasSs, 'ss (iproute2) is needed to see which worker holds a connection')) return;
  const env = await setup();
  const sessions: Awaited<ReturnType<typeof openSession>>[] = [];
  try {
    const workers = childPids(env.baton.pid);
    assert.equal(workers.length, 2, `worker pids ${workers}`);
    for (const s of await times(400, 25, () => openSession(env.port))) sessions.push(s);
    assert.deepEqual(tally(sessions.map((s) => s.name)), { s1: 100, s2: 100, s3: 100, s4: 100 });
    const byPid = connectionsByPid(env.port);
    const counts = workers.map((p) => byPid.get(p) ?? 0);
    t.diagnostic(`connections per worker: ${counts.join(' / ')}`);
    assert.equal(counts[0]! + counts[1]!, 400);
    assert.ok(counts[0]! > 0 && counts[1]! > 0, `both workers accept: ${counts}`);
  } finally {
    for (const s of sessions) s.socket.destroy();
    await env.close();
  }
});

test('workers: 2: maint through the API stops new connections in every worker within 50 ms and closes its sessions; drain keeps them', async (t) => {
  if (!requireCapability(t, hasSs, 'ss (iproute2) is needed to see which worker holds a connection')) return;
  const env = await setup();
  const held: Awaited<ReturnType<typeof openSession>>[] = [];
  try {
    for (const s of await times(40, 10, () => openSession(env.port))) held.push(s);
    const byPid = connectionsByPid(env.port);
    assert.equal(byPid.size, 2, `held sessions spread over both workers: ${[...byPid.values()]}`);

    const maint = await setServerState(env.baton.adminUrl, 'read', 's1', 'maint');
    assert.equal(maint.status, 200, maint.text);
    assert.deepEqual(maint.json, { service: 'read', server: 's1', admin: 'maint', state: 'maint' });
    await sleep(50);
    const after = await times(80, 20, () => fetchName(env.port));
    assert.equal(after.filter((n) => n === 's1').length, 0, `s1 got new clients after maint: ${JSON.stringify(tally(after))}`);
    const s1 = held.filter((s) => s.name === 's1');
    assert.equal(s1.length, 10);
    const closedInTime = await Promise.race([Promise.all(s1.map((s) => s.closed)).then(() => true), sleep(2000).then(() => false)]);
    assert.ok(closedInTime, 'maint closes the sessions of s1');
    for (const s of held.filter((x) => x.name !== 's1')) assert.equal(await ping(s, 'still'), 'still\n');

    const drain = await setServerState(env.baton.adminUrl, 'read', 's2', 'drain');
    assert.equal(drain.status, 200, drain.text);
    await sleep(50);
    const later = await times(60, 20, () => fetchName(env.port));
    assert.deepEqual(Object.keys(tally(later)).sort(), ['s3', 's4']);
    await sleep(300);
    for (const s of held.filter((x) => x.name === 's2')) assert.equal(await ping(s, 'drained'), 'drained\n', 'drain keeps existing sessions');

    const status = await api(env.baton.adminUrl, '/api/status');
    const servers = Object.fromEntries(status.json.services[0].servers.map((s: { name: string; state: string; active: number }) => [s.name, s]));
    assert.equal(servers.s1.state, 'maint');
    assert.equal(servers.s1.active, 0);
    assert.equal(servers.s2.state, 'drain');
    assert.equal(servers.s2.active, 10);
  } finally {
    for (const s of held) s.socket.destroy();
    await env.close();
  }
});

test('workers: 2: SIGKILL one worker under load: it is restarted, the other keeps its sessions, no client is refused', async (t) => {
  if (!requireCapability(t, hasSs, 'ss (iproute2) is needed to see which worker holds a connection')) return;
  const env = await setup();
  const held: Awaited<ReturnType<typeof openSession>>[] = [];
  try {
    for (const s of await times(40, 10, () => openSession(env.port))) held.push(s);
    const [victim, survivor] = childPids(env.baton.pid);
    assert.ok(victim && survivor);
    // Which held sessions live in the surviving worker: match their client ports against ss.
    const r = spawnSync('ss', ['-tnpH', 'state', 'established', `( sport = :${env.port} )`], { encoding: 'utf8' });
    const survivorPeers = new Set<number>();
    for (const line of r.stdout.split('\n')) {
      const m = /:(\d+)\s+users:.*pid=(\d+)/.exec(line);
      if (m && Number(m[2]) === survivor) survivorPeers.add(Number(m[1]));
    }
    const onSurvivor = held.filter((s) => survivorPeers.has(s.socket.localPort!));
    assert.ok(onSurvivor.length > 0, 'some sessions live in the surviving worker');

    // Load: a bounded stream of short connections while the worker dies.
    let refused = 0;
    let reset = 0;
    let ok = 0;
    let stop = false;
    const deadline = Date.now() + 8000;
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 2000 && !stop && Date.now() < deadline; i++) {
          try {
            await fetchName(env.port);
            ok++;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') refused++;
            else reset++;
          }
        }
      }),
    );
    await sleep(300);
    const from = env.baton.logs.length;
    process.kill(victim, 'SIGKILL');
    await env.baton.waitForLog(/worker exited, restarting/, 5000, from);
    await env.baton.waitForLog(/worker started/, 5000, from);
    await sleep(500);
    stop = true;
    await load;
    t.diagnostic(`during the kill: ${ok} connections served, ${reset} cut with the dying worker, ${refused} refused`);
    assert.equal(refused, 0, 'the listener never refused a client');
    assert.ok(ok > 100, `${ok} connections served`);

    for (const s of onSurvivor) assert.equal(await ping(s, 'alive'), 'alive\n', 'sessions on the other worker survive');
    const pids = childPids(env.baton.pid);
    assert.equal(pids.length, 2);
    assert.ok(pids.includes(survivor) && !pids.includes(victim), `restarted: ${pids}`);
    // The restarted worker takes clients again.
    const more: Awaited<ReturnType<typeof openSession>>[] = [];
    assert.ok(
      await (async () => {
        for (let i = 0; i < 200; i++) {
          more.push(await openSession(env.port));
          const byPid = connectionsByPid(env.port);
          if ([...byPid.keys()].some((p) => p !== survivor && pids.includes(p))) return true;
        }
        return false;
      })(),
      'the new worker accepts connections',
    );
    for (const s of more) s.socket.destroy();
  } finally {
    for (const s of held) s.socket.destroy();
    await env.close();
  }
});

test('workers: 2: a reload whose new port is taken changes nothing in any worker; a good one reaches both; a taken port fails the start cleanly', async (t) => {
  if (!requireCapability(t, hasSs, 'ss (iproute2) is needed to see which worker holds a connection')) return;
  const env = await setup(2);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const taken = (blocker.address() as net.AddressInfo).port;
  const extraPort = await freePort();
  try {
    const base = `node: w
workers: 2
shutdown_timeout: 1s
services:
  - name: read
    listen: 127.0.0.1:${env.port}
    balance: roundrobin
    servers:
${env.backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`;
    const extra = (port: number) => `  - name: extra
    listen: 127.0.0.1:${port}
    balance: roundrobin
    servers:
      - { name: s2, address: 127.0.0.1:${env.backends[1]!.port} }
`;
    let from = env.baton.logs.length;
    env.baton.writeConfig(base.replace('servers:\n      - { name: s1', 'servers:\n      - { name: s1') + extra(taken));
    env.baton.signal('SIGHUP');
    await env.baton.waitForLog(/reload rejected/, 5000, from);
    assert.deepEqual(tally(await times(40, 10, () => fetchName(env.port))), { s1: 20, s2: 20 });
    const status = await api(env.baton.adminUrl, '/api/status');
    assert.deepEqual(status.json.services.map((s: { name: string }) => s.name), ['read']);

    from = env.baton.logs.length;
    env.baton.writeConfig(base + extra(extraPort));
    env.baton.signal('SIGHUP');
    await env.baton.waitForLog(/config reloaded.*added=extra/, 5000, from);
    // Both workers serve the new service: sessions held on it, in batches of
    // 20 (at most 400: the kernel's spread over the two accepting workers is
    // not even), until ss shows each worker PID holding some of them.
    const workers = childPids(env.baton.pid);
    assert.equal(workers.length, 2, `worker pids ${workers}`);
    const onExtra: Awaited<ReturnType<typeof openSession>>[] = [];
    try {
      let counts = [0, 0];
      for (let batch = 0; batch < 20 && !(counts[0]! > 0 && counts[1]! > 0); batch++) {
        for (const s of await times(20, 10, () => openSession(extraPort))) onExtra.push(s);
        const byPid = connectionsByPid(extraPort);
        counts = workers.map((p) => byPid.get(p) ?? 0);
        assert.equal(counts[0]! + counts[1]!, onExtra.length, `every connection held by a worker: ${JSON.stringify([...byPid])}`);
      }
      t.diagnostic(`connections to the new service per worker: ${counts.join(' / ')}`);
      assert.deepEqual(tally(onExtra.map((s) => s.name)), { s2: onExtra.length });
      assert.ok(counts[0]! > 0 && counts[1]! > 0, `both workers accept on the new service: ${counts}`);
    } finally {
      for (const s of onExtra) s.socket.destroy();
    }
    assert.deepEqual(tally(await times(40, 10, () => fetchName(env.port))), { s1: 20, s2: 20 });

    // A start on a taken port: exit 1, no worker left behind.
    const failed = await startBaton(`node: w2\nworkers: 2\nservices:\n  - name: x\n    listen: 127.0.0.1:${taken}\n    servers:\n      - { name: s1, address: 127.0.0.1:${env.backends[0]!.port} }\n`, { waitFor: /cannot start/ });
    assert.equal(await failed.exited, 1);
    assert.equal(childPids(failed.pid).length, 0);
    await failed.stop();
  } finally {
    blocker.close();
    await env.close();
  }
});
