/**
 * Reload and shutdown of the real daemon: SIGHUP with 50 open sessions adds
 * a server and removes a service without touching the unchanged sessions; a
 * broken file on SIGHUP keeps the running config; so does a file naming an
 * unset health password_env or admin token_env, before any new service
 * listens; SIGTERM lets sessions finish up to shutdown_timeout and exits 0.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBaton } from './helpers/baton.js';
import { fetchName, nameBackend, openSession, ping, tally, times, sleep } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

function yaml(p: { admin: number; a: number; b: number; extra?: number }, servers: Array<[string, number]>, withB: boolean, shutdown = '2s') {
  return `
admin: { listen: 127.0.0.1:${p.admin} }
workers: 1
shutdown_timeout: ${shutdown}
services:
  - name: a
    listen: 127.0.0.1:${p.a}
    servers:
${servers.map(([n, port]) => `      - { name: ${n}, address: 127.0.0.1:${port} }`).join('\n')}
${
  withB
    ? `  - name: b
    listen: 127.0.0.1:${p.b}
    servers:
      - { name: s1, address: 127.0.0.1:${servers[0]![1]} }`
    : ''
}
`;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('SIGHUP with 50 open sessions: server added, service removed, unchanged sessions survive', { timeout: 60_000 }, async () => {
  const s1 = await nameBackend('s1');
  const s2 = await nameBackend('s2');
  cleanup.push(() => s1.close(), () => s2.close());
  const [admin, a, b] = await freePorts(3);
  const ports = { admin: admin!, a: a!, b: b! };
  const baton = await startBaton(yaml(ports, [['s1', s1.port]], true));
  cleanup.push(() => baton.stop());

  const held = await times(50, 10, () => openSession(ports.a));
  assert.deepEqual(tally(held.map((h) => h.name)), { s1: 50 });
  assert.equal(await fetchName(ports.b), 's1');

  const mark = baton.logs.length;
  baton.writeConfig(yaml(ports, [['s1', s1.port], ['s2', s2.port]], false));
  baton.signal('SIGHUP');
  await baton.waitForLog(/config reloaded/, 5000, mark);

  // Every one of the 50 sessions is alive and relaying.
  const echoes = await Promise.all(held.map((h) => ping(h)));
  assert.deepEqual(new Set(echoes), new Set(['ping\n']));
  // The new server takes clients.
  const names = await times(20, 1, () => fetchName(ports.a));
  assert.deepEqual(tally(names), { s1: 10, s2: 10 });
  // The removed service's port no longer listens.
  assert.equal(await refused(ports.b), true);

  // A broken file: logged, running config kept.
  const mark2 = baton.logs.length;
  baton.writeConfig('services:\n  - name: a\n    listen: nowhere\n');
  baton.signal('SIGHUP');
  await baton.waitForLog(/reload rejected, running config kept/, 5000, mark2);
  assert.ok(baton.logs.slice(mark2).some((l) => /config error/.test(l) && /services\[0\]/.test(l)));
  assert.deepEqual(tally(await times(4, 1, () => fetchName(ports.a))), { s1: 2, s2: 2 });
  assert.deepEqual(new Set(await Promise.all(held.map((h) => ping(h, 'again')))), new Set(['again\n']));

  // A port that cannot be bound: nothing half-applied.
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(ports.b, '127.0.0.1', r));
  const mark3 = baton.logs.length;
  baton.writeConfig(yaml(ports, [['s1', s1.port]], true));
  baton.signal('SIGHUP');
  await baton.waitForLog(/reload rejected/, 5000, mark3);
  blocker.close();
  assert.deepEqual(tally(await times(4, 1, () => fetchName(ports.a))), { s1: 2, s2: 2 }, 'the a service kept both servers');

  for (const h of held) h.socket.destroy();
  assert.equal(await baton.stop(), 0);
});

test('SIGTERM: stops accepting, lets open sessions finish, exits 0; sessions past shutdown_timeout are closed', { timeout: 30_000 }, async () => {
  const s1 = await nameBackend('s1');
  cleanup.push(() => s1.close());
  const [admin, a, b] = await freePorts(3);
  const ports = { admin: admin!, a: a!, b: b! };
  const baton = await startBaton(yaml(ports, [['s1', s1.port]], false, '1500ms'));
  const session = await openSession(ports.a);
  const started = Date.now();
  baton.signal('SIGTERM');
  await baton.waitForLog(/shutting down/);
  await sleep(100);
  assert.equal(await refused(ports.a), true, 'no new clients after SIGTERM');
  // The open session still works during the grace period.
  assert.equal(await ping(session), 'ping\n');
  await session.closed;
  const code = await baton.exited;
  const took = Date.now() - started;
  assert.equal(code, 0);
  assert.ok(took >= 1400 && took < 5000, `closed after ${took} ms (shutdown_timeout 1500ms)`);
  assert.ok(baton.logs.some((l) => /stopped sessions_closed=1/.test(l)));
  await baton.stop();
});

test('a SIGHUP that arrives while the daemon is still starting is applied once it has started, never the default action', async () => {
  const backend = await nameBackend('s1');
  cleanup.push(() => backend.close());
  const [admin, a, b] = await freePorts(3);
  // Returns at the first log line, before `baton started`.
  const baton = await startBaton(yaml({ admin: admin!, a: a!, b: b! }, [['s1', backend.port]], false), { waitFor: /listening/ });
  cleanup.push(() => baton.stop());
  baton.signal('SIGHUP');
  await baton.waitForLog(/baton started/, 10_000);
  await baton.waitForLog(/config reloaded/, 10_000);
  assert.equal(await fetchName(a!), 's1');
});

test('SIGHUP naming an unset health password_env or admin token_env changes nothing and says why; made valid, it applies', { timeout: 30_000 }, async () => {
  const backend = await nameBackend('s1');
  cleanup.push(() => backend.close());
  const [admin, a, b] = await freePorts(3);
  const ports = { admin: admin!, a: a!, b: b! };
  const baton = await startBaton(yaml(ports, [['s1', backend.port]], false));
  cleanup.push(() => baton.stop());
  const status = async () => {
    const s = (await (await fetch(`${baton.adminUrl}/api/status`)).json()) as { services: { name: string; listen: string }[]; auth: unknown };
    return { services: s.services.map((x) => [x.name, x.listen]), auth: s.auth };
  };
  const before = await status();
  const withB = yaml(ports, [['s1', backend.port]], true);

  const rejected = async (text: string, reason: RegExp) => {
    baton.writeConfig(text);
    const mark = baton.logs.length;
    baton.signal('SIGHUP');
    const line = await baton.waitForLog(/reload rejected|config reloaded/, 5000, mark);
    assert.match(line, /ERROR reload rejected, running config kept/);
    assert.match(line, reason);
    await sleep(200);
    assert.deepEqual(baton.logs.slice(mark).filter((l) => / ERROR /.test(l)), [line], 'one error line');
    assert.equal(await refused(ports.b), true, 'the new service does not listen');
    assert.deepEqual(await status(), before, '/api/status unchanged');
  };

  const health = '    health: { check: mysql, user: hcheck, password_env: BATON_TEST_UNSET_HC_PASSWORD }\n';
  await rejected(withB + health, /health\.password_env BATON_TEST_UNSET_HC_PASSWORD is not set/);
  const token = withB.replace(`admin: { listen: 127.0.0.1:${ports.admin} }`, `admin: { listen: 127.0.0.1:${ports.admin}, token_env: BATON_TEST_UNSET_TOKEN }`);
  assert.notEqual(token, withB);
  await rejected(token, /token_env BATON_TEST_UNSET_TOKEN is not set/);

  baton.writeConfig(withB);
  const mark = baton.logs.length;
  baton.signal('SIGHUP');
  assert.match(await baton.waitForLog(/reload rejected|config reloaded/, 5000, mark), /INFO config reloaded added=b /);
  assert.equal(await fetchName(ports.b), 's1');
});
