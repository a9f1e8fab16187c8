/**
 * `baton writer switch` against the real daemon with two workers: with a
 * hold, a new client is held (connected, no answer, no error) until the old
 * writer's sessions are over, then goes to the new writer; a session still
 * open on the old writer when the hold/drain time is over is closed; with
 * --hold 0 new clients go to the new writer at once while the old one's
 * sessions drain. Each step is one log line; `baton status` shows the switch
 * while it runs; bad requests are refused and change nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { startBaton, cliPath } from './helpers/baton.js';
import { nameBackend, openSession, sleep, waitFor } from './helpers/backends.js';
import { api } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';

function client(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const state = { data: '', closed: false, error: '' };
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (state.data += d));
  socket.on('error', (e) => (state.error = e.message));
  socket.on('close', () => (state.closed = true));
  return { socket, state };
}

test('writer switch: held clients pause and go to the new writer; stragglers are closed; --hold 0 moves new clients at once', { timeout: 60_000 }, async (t) => {
  const backends = [await nameBackend('a'), await nameBackend('b')];
  const port = await freePort();
  const baton = await startBaton(`node: sw
workers: 2
shutdown_timeout: 1s
services:
  - name: write
    listen: 127.0.0.1:${port}
    balance: writer
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
  - name: plain
    listen: 127.0.0.1:${await freePort()}
    servers: [{ name: a, address: 127.0.0.1:${backends[0]!.port} }]
`);
  t.after(async () => {
    await baton.stop();
    for (const b of backends) await b.close();
  });
  const base = baton.adminUrl;
  const writerNow = async () => (await api(base, '/api/status')).json.services.find((s: { name: string }) => s.name === 'write');
  for (let i = 0; i < 50 && (await writerNow()).writer !== 'a'; i++) await sleep(100);
  assert.equal((await writerNow()).writer, 'a');

  // Refused requests change nothing.
  const bad: Array<[string, unknown, number, string]> = [
    ['write', { to: 'nope' }, 404, 'unknown-server'],
    ['write', { to: 'a' }, 409, 'already-writer'],
    ['write', { to: 'b', hold_ms: -1 }, 400, 'bad-hold'],
    ['write', { to: 'b', hold_ms: 10_000_000 }, 400, 'bad-hold'],
    ['write', { to: 'b', extra: 1 }, 400, 'bad-request'],
    ['plain', {}, 400, 'not-writer'],
    ['none', {}, 404, 'unknown-service'],
  ];
  for (const [service, body, status, code] of bad) {
    const r = await api(base, `/api/services/${service}/writer`, { body });
    assert.equal(r.status, status, `${service} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json?.error?.code, code);
  }
  assert.equal((await writerNow()).writer, 'a');
  assert.equal(baton.logs.filter((l) => l.includes('writer switch started')).length, 0);

  // With a hold: a session stays open on a past the hold, so it is closed.
  const old = await openSession(port);
  assert.equal(old.name, 'a');
  const mark = baton.logs.length;
  const started = await api(base, '/api/services/write/writer', { body: { to: 'b', drain_ms: 3000, hold_ms: 1200 } });
  assert.equal(started.status, 202, started.text);
  assert.deepEqual([started.json.from, started.json.to, started.json.phase], ['a', 'b', 'holding']);
  await sleep(100);
  const held = client(port);
  await sleep(400);
  assert.deepEqual(held.state, { data: '', closed: false, error: '' }, 'a held client is connected and waits');
  const during = spawnSync(process.execPath, [cliPath, 'status', '--admin', base], { encoding: 'utf8' });
  assert.match(during.stdout, /service write .*writer a .*switching a->b holding/, during.stdout);
  assert.equal((await api(base, '/api/services/write/writer', { body: { to: 'b' } })).status, 409, 'one switch at a time');
  await old.closed;
  assert.ok(await waitFor(() => held.state.data === 'b\n', 3000), JSON.stringify(held.state));
  await baton.waitForLog(/writer switch done/, 3000, mark);
  const steps = baton.logs.slice(mark).filter((l) => /writer switch|writer decided|writer changed/.test(l));
  t.diagnostic(steps.join('\n'));
  assert.match(steps[0]!, /writer switch started .*service=write from=a to=b drain_ms=3000 hold_ms=1200 by=127\.0\.0\.1/);
  assert.match(steps.find((l) => l.includes('writer switch drained'))!, /closed=1/);
  assert.match(steps.find((l) => l.includes('writer switch done'))!, /writer=b released=1 closed=1/);
  assert.equal((await writerNow()).writer, 'b');
  held.socket.destroy();

  // --hold 0: new clients go to the new writer at once; the old writer's session drains, then is closed.
  const onB = await openSession(port);
  const t0 = Date.now();
  const r = await api(base, '/api/services/write/writer', { body: { drain_ms: 800, hold_ms: 0 } });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.to, 'a', 'without --to: the first other server up');
  const fresh = await openSession(port);
  assert.equal(fresh.name, 'a');
  assert.ok(Date.now() - t0 < 700, 'not held');
  assert.equal(onB.socket.destroyed, false, 'the old writer\'s session drains');
  await onB.closed;
  assert.ok(Date.now() - t0 >= 700, `closed after the drain time, not before (${Date.now() - t0} ms)`);
  fresh.socket.destroy();
});

test('writer switch needs the admin token and is refused from a foreign web page, like every change', { timeout: 30_000 }, async (t) => {
  const backends = [await nameBackend('a'), await nameBackend('b')];
  const [port, adminPort] = [await freePort(), await freePort()];
  const baton = await startBaton(
    `node: sw-auth
workers: 1
admin: { listen: 127.0.0.1:${adminPort}, token_env: SW_TOKEN }
services:
  - name: write
    listen: 127.0.0.1:${port}
    balance: writer
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`,
    { env: { SW_TOKEN: 'sw-secret' } },
  );
  t.after(async () => {
    await baton.stop();
    for (const b of backends) await b.close();
  });
  const base = baton.adminUrl;
  assert.equal((await api(base, '/api/services/write/writer', { body: { to: 'b' } })).status, 401);
  assert.equal((await api(base, '/api/services/write/writer', { body: { to: 'b' }, token: 'wrong' })).status, 401);
  const foreign = await fetch(`${base}/api/services/write/writer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sw-secret', origin: 'http://evil.example' },
    body: '{"to":"b"}',
  });
  assert.equal(foreign.status, 403);
  const plain = await fetch(`${base}/api/services/write/writer`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: 'Bearer sw-secret' }, body: '{"to":"b"}' });
  assert.equal(plain.status, 415);
  assert.equal(baton.logs.filter((l) => l.includes('writer switch started')).length, 0, 'nothing started');
  const ok = await api(base, '/api/services/write/writer', { body: { to: 'b', hold_ms: 0, drain_ms: 0 }, token: 'sw-secret' });
  assert.equal(ok.status, 202, ok.text);
  await baton.waitForLog(/writer switch done/, 5000);
});
