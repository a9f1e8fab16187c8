/**
 * The relay and the service on real loopback sockets: balancing across real
 * backends, retries, writer moves, server states, half-close, counters, and
 * every kind of bad peer closing only its own session.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { requireCapability } from '@baton/core';
import { nameBackend, listenBackend, fetchName, openSession, serviceSpec, startService, tally, times, sleep, waitFor, type Backend } from './helpers.js';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function backends(...names: string[]): Promise<Backend[]> {
  const list = await Promise.all(names.map((n) => nameBackend(n)));
  for (const b of list) cleanup.push(() => b.close());
  return list;
}

test('round robin spreads 300 connections 100/100/100; a dead backend is retried invisibly', async () => {
  const [a, b, c] = await backends('a', 'b', 'c');
  const { service, port } = await startService(serviceSpec([a!, b!, c!].map((x) => ({ name: x.name, port: x.port }))));
  cleanup.push(() => service.stopListening());
  const first = await times(300, 10, () => fetchName(port));
  assert.deepEqual(tally(first), { a: 100, b: 100, c: 100 });

  await c!.close();
  const second = await times(300, 10, () => fetchName(port));
  const counts = tally(second);
  assert.equal((counts.a ?? 0) + (counts.b ?? 0), 300, `all 300 must succeed on a and b: ${JSON.stringify(counts)}`);
  assert.equal(counts.c, undefined);
  const cs = service.counters().servers.find((s) => s.name === 'c')!;
  assert.ok(cs.connectErrors >= 1, 'refused connects to c are counted');
  assert.equal(service.counters().refused, 0);
});

test('weights: 3:1 gives 300:100 over 400 connections', async () => {
  const [a, b] = await backends('a', 'b');
  const { service, port } = await startService(
    serviceSpec([
      { name: 'a', port: a!.port, weight: 3 },
      { name: 'b', port: b!.port, weight: 1 },
    ]),
  );
  cleanup.push(() => service.stopListening());
  const names = await times(400, 1, () => fetchName(port));
  assert.deepEqual(tally(names), { a: 300, b: 100 });
});

test('writer: every client to the writer; naming another moves new clients and closes the old sessions', async () => {
  const [a, b] = await backends('a', 'b');
  const { service, port } = await startService(
    serviceSpec(
      [
        { name: 'a', port: a!.port },
        { name: 'b', port: b!.port },
      ],
      { balance: 'writer' },
    ),
  );
  cleanup.push(() => service.stopListening());
  // No writer named: refused.
  await assert.rejects(fetchName(port));
  assert.equal(service.counters().refused, 1);

  assert.ok(service.setWriter('a'));
  const names = await times(100, 10, () => fetchName(port));
  assert.deepEqual(tally(names), { a: 100 });

  const held = await Promise.all([openSession(port), openSession(port), openSession(port)]);
  assert.deepEqual(held.map((h) => h.name), ['a', 'a', 'a']);
  assert.ok(service.setWriter('b'));
  await Promise.all(held.map((h) => h.closed));
  assert.equal(await fetchName(port), 'b');
  assert.equal(service.setWriter('nope'), false);
});

test('server states: maint closes sessions, drain keeps them, neither takes new clients; backup only when no primary', async () => {
  const [a, b, z] = await backends('a', 'b', 'z');
  const { service, port } = await startService(
    serviceSpec([
      { name: 'a', port: a!.port },
      { name: 'b', port: b!.port },
      { name: 'z', port: z!.port, backup: true },
    ]),
  );
  cleanup.push(() => service.stopListening());
  const s1 = await openSession(port);
  const s2 = await openSession(port);
  const onA = s1.name === 'a' ? s1 : s2;
  const onB = s1.name === 'b' ? s1 : s2;
  assert.notEqual(onA, onB);

  service.setServerState('a', 'drain');
  assert.deepEqual(tally(await times(10, 1, () => fetchName(port))), { b: 10 });
  onA.socket.write('still here\n');
  // The drained session still relays.
  const echoed = await new Promise<string>((resolve) => onA.socket.once('data', (d) => resolve(String(d))));
  assert.equal(echoed, 'still here\n');

  service.setServerState('b', 'maint');
  await onB.closed;
  assert.equal(onA.socket.destroyed, false);
  // Both primaries out: the backup takes clients.
  assert.deepEqual(tally(await times(5, 1, () => fetchName(port))), { z: 5 });
  service.setServerState('b', 'up');
  assert.deepEqual(tally(await times(5, 1, () => fetchName(port))), { b: 5 });
  service.setServerState('b', 'down');
  service.setServerState('a', 'down');
  service.setServerState('z', 'down');
  await assert.rejects(fetchName(port));
  onA.socket.destroy();
});

test('half-close: a client that shuts its write side still gets the whole answer', async () => {
  // A backend that answers only after the client's FIN, with the byte count it got.
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    let n = 0;
    socket.on('data', (d) => (n += d.length));
    socket.on('end', () => {
      socket.write(`got ${n}\n`);
      setTimeout(() => socket.end('bye\n'), 50);
    });
  });
  const backend = await listenBackend('h', server, sockets);
  cleanup.push(() => backend.close());
  const { service, port } = await startService(serviceSpec([{ name: 'h', port: backend.port }]));
  cleanup.push(() => service.stopListening());
  const answer = await new Promise<string>((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    c.on('data', (d) => (data += d));
    c.on('end', () => {
      c.end();
      resolve(data);
    });
    c.on('error', reject);
    c.end(Buffer.alloc(100_000, 1));
  });
  assert.equal(answer, 'got 100000\nbye\n');
  assert.ok(await waitFor(() => service.activeSessions === 0));
  const h = service.counters().servers[0]!;
  assert.equal(h.bytesIn, 100_000);
  assert.equal(h.bytesOut, 'got 100000\nbye\n'.length);
  assert.equal(h.total, 1);
});

test('bad peers close only their own session: garbage, client RST, client vanishing, backend RST, silent backend', async () => {
  // The backend answers its name, echoes, and resets the connection when it reads "RST".
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.write('r\n');
    socket.on('data', (d) => {
      if (String(d).includes('RST')) socket.resetAndDestroy();
      else socket.write(d);
    });
    socket.on('end', () => socket.end());
  });
  const backend = await listenBackend('r', server, sockets);
  cleanup.push(() => backend.close());
  // A backend that accepts and never says anything.
  const silentSockets = new Set<net.Socket>();
  const silent = await listenBackend('s', net.createServer((s) => (silentSockets.add(s), s.on('error', () => undefined))), silentSockets);
  cleanup.push(() => silent.close());

  const { service, port } = await startService(serviceSpec([{ name: 'r', port: backend.port }], { idleTimeoutMs: 5000 }));
  cleanup.push(() => service.stopListening());
  const { service: quiet, port: quietPort } = await startService(serviceSpec([{ name: 's', port: silent.port }], { name: 'quiet', idleTimeoutMs: 300 }));
  cleanup.push(() => quiet.stopListening());

  const bystander = await openSession(port);

  // Garbage bytes are just bytes: relayed, echoed.
  const g = await openSession(port);
  const garbage = Buffer.from([0, 255, 13, 10, 0xde, 0xad, 0xbe, 0xef]);
  g.socket.write(garbage);
  const back = await new Promise<Buffer>((resolve) => g.socket.once('data', (d) => resolve(Buffer.from(d as unknown as string, 'latin1'))));
  assert.ok(back.length > 0);
  g.socket.destroy();

  // A client that resets.
  const rst = await openSession(port);
  rst.socket.resetAndDestroy();
  // A client that vanishes without a FIN is the idle timeout's job.
  const vanish = await openSession(port);
  vanish.socket.pause();
  // A backend that resets mid-transfer.
  const brst = await openSession(port);
  brst.socket.write('RST');
  await brst.closed;
  // A backend that never answers: closed at idle_timeout, counted.
  const q = net.connect({ port: quietPort, host: '127.0.0.1' });
  q.on('error', () => undefined);
  const qClosed = new Promise<void>((r) => q.on('close', () => r()));
  await qClosed;
  assert.ok(await waitFor(() => quiet.counters().servers[0]!.sessionErrors === 1), 'the silent backend session is counted');

  // The bystander kept working through all of it.
  bystander.socket.write('ping\n');
  const pong = await new Promise<string>((resolve) => bystander.socket.once('data', (d) => resolve(String(d))));
  assert.equal(pong, 'ping\n');
  assert.equal(await fetchName(port), 'r');
  vanish.socket.destroy();
  bystander.socket.destroy();
  assert.ok(await waitFor(() => service.activeSessions === 0));
  assert.ok(service.counters().servers[0]!.sessionErrors >= 2, 'client RST and backend RST are counted');
});

test('connect timeout: a backend that never completes the handshake is skipped for the next server', async (t) => {
  // A listener whose accept queue is full never completes further handshakes:
  // Linux drops the SYNs, so connects to it time out. Python holds the socket
  // without accepting (Node always accepts).
  const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => py.kill('SIGKILL'));
  const blackholePort = await new Promise<number>((resolve, reject) => {
    py.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    py.once('error', reject);
  });
  // Fill the accept queue (backlog 0 admits one or two).
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const f = net.connect({ port: blackholePort, host: '127.0.0.1' });
    f.on('error', () => undefined);
    fillers.push(f);
  }
  cleanup.push(() => fillers.forEach((f) => f.destroy()));
  await sleep(200);
  const probe = await new Promise<boolean>((resolve) => {
    const s = net.connect({ port: blackholePort, host: '127.0.0.1' });
    s.setTimeout(300, () => (s.destroy(), resolve(true)));
    s.on('connect', () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(false));
  });
  if (!requireCapability(t, probe, 'this kernel completes handshakes beyond the backlog; cannot make a connect hang on loopback')) return;
  const [ok] = await backends('ok');
  const { service, port } = await startService(
    serviceSpec(
      [
        { name: 'hole', port: blackholePort },
        { name: 'ok', port: ok!.port },
      ],
      { connectTimeoutMs: 200 },
    ),
  );
  cleanup.push(() => service.stopListening());
  const started = Date.now();
  const names = await times(4, 4, () => fetchName(port));
  assert.deepEqual(tally(names), { ok: 4 });
  assert.ok(Date.now() - started < 2000);
  assert.ok(service.counters().servers.find((s) => s.name === 'hole')!.connectErrors >= 1);
  py.kill('SIGKILL');
  await new Promise((r) => (py as ChildProcess).once('exit', r));
});

test('source balancing hashes the real client address: one client address always lands on one server', async () => {
  const [a, b, c] = await backends('a', 'b', 'c');
  const { service, port } = await startService(serviceSpec([a!, b!, c!].map((x) => ({ name: x.name, port: x.port })), { balance: 'source' }));
  cleanup.push(() => service.stopListening());
  const names = await times(30, 5, () => fetchName(port));
  assert.equal(Object.keys(tally(names)).length, 1, `every connection from 127.0.0.1 on one server: ${JSON.stringify(tally(names))}`);
});
