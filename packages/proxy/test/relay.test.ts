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
import { nameBackend, listenBackend, fetchName, openSession, serviceSpec, startService, tally, times, sleep, waitFor, prng, type Backend } from './helpers.js';

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
    socket.on('close', () => sockets.delete(socket));
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

  const IDLE_MS = 800;
  const { service, port } = await startService(serviceSpec([{ name: 'r', port: backend.port }], { idleTimeoutMs: IDLE_MS }));
  cleanup.push(() => service.stopListening());
  const { service: quiet, port: quietPort } = await startService(serviceSpec([{ name: 's', port: silent.port }], { name: 'quiet', idleTimeoutMs: 300 }));
  cleanup.push(() => quiet.stopListening());
  const r = () => service.counters().servers[0]!;

  // The bystander pings every 100 ms all through the test (well inside the
  // idle timeout), and every ping must come back.
  const bystander = await openSession(port);
  let pingsSent = 0;
  let echoed = '';
  bystander.socket.on('data', (d: string) => (echoed += d));
  const pinger = setInterval(() => {
    pingsSent++;
    bystander.socket.write('ping\n');
  }, 100);
  cleanup.push(() => clearInterval(pinger));

  // Garbage bytes are just bytes: every byte value (descending, so that
  // "RST" does not appear), plus 64 KiB of seeded noise, comes back exactly
  // as sent, after the backend's name line.
  const rand = prng(7);
  const noise = Buffer.from(Array.from({ length: 65_536 }, () => Math.floor(rand() * 256)));
  const garbage = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)), noise]);
  assert.equal(garbage.includes('RST'), false, 'the garbage must not ask the backend to reset');
  const back = await new Promise<Buffer>((resolve, reject) => {
    const want = 2 + garbage.length;
    const chunks: Buffer[] = [];
    let got = 0;
    const c = net.connect({ port, host: '127.0.0.1' }, () => c.write(garbage));
    const timer = setTimeout(() => (c.destroy(), reject(new Error(`echo incomplete: ${got} of ${want} bytes`))), 5000);
    c.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= want) {
        clearTimeout(timer);
        c.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    c.on('error', reject);
  });
  assert.equal(back.subarray(0, 2).toString('latin1'), 'r\n');
  assert.ok(back.subarray(2).equals(garbage), `echoed bytes differ from the ${garbage.length} sent (first difference at ${back.subarray(2).findIndex((b, i) => b !== garbage[i])})`);

  // A client that resets.
  const rst = await openSession(port);
  rst.socket.resetAndDestroy();
  // A backend that resets mid-transfer.
  const brst = await openSession(port);
  brst.socket.write('RST');
  await brst.closed;
  assert.ok(await waitFor(() => r().sessionErrors >= 2), 'client RST and backend RST are counted');
  assert.ok(await waitFor(() => service.activeSessions === 1 && sockets.size === 1), `only the bystander is left: ${service.activeSessions} sessions, ${sockets.size} backend sockets`);

  // A client that vanishes (its host gone: no FIN, no RST, nothing ever
  // again). On loopback the kernel still acknowledges, so to Baton it is a
  // session that stays silent: only the idle timeout can end it, and it must
  // end it, count it, and free both of its sockets.
  const errorsBefore = r().sessionErrors;
  const vanish = await openSession(port);
  const vanishedAt = Date.now();
  let vanishEnd = 0;
  vanish.socket.on('end', () => (vanishEnd = Date.now()));
  assert.equal(service.activeSessions, 2);
  assert.equal(sockets.size, 2, 'the vanishing client has its backend connection');
  const closedInTime = await Promise.race([vanish.closed.then(() => true), sleep(IDLE_MS * 5).then(() => false)]);
  assert.ok(closedInTime, `the vanished client's session is still open ${IDLE_MS * 5} ms after its last byte`);
  const waited = Date.now() - vanishedAt;
  assert.ok(vanishEnd > 0, 'Baton closed the session (the client never did)');
  assert.ok(waited >= IDLE_MS - 50, `closed after ${waited} ms, before the idle timeout of ${IDLE_MS} ms`);
  assert.ok(await waitFor(() => r().sessionErrors === errorsBefore + 1), `the idle timeout is counted once: ${r().sessionErrors - errorsBefore}`);
  assert.ok(await waitFor(() => service.activeSessions === 1 && sockets.size === 1 && r().active === 1), `the vanished session left nothing behind: ${service.activeSessions} sessions, ${sockets.size} backend sockets, ${r().active} active`);
  assert.equal(bystander.socket.destroyed, false, 'the bystander outlives the idle timeout of the vanished client');

  // A backend that never answers: closed at idle_timeout, counted.
  const q = net.connect({ port: quietPort, host: '127.0.0.1' });
  q.on('error', () => undefined);
  const qClosed = new Promise<void>((r) => q.on('close', () => r()));
  await qClosed;
  assert.ok(await waitFor(() => quiet.counters().servers[0]!.sessionErrors === 1), 'the silent backend session is counted');

  // The bystander kept working through all of it: every ping echoed.
  clearInterval(pinger);
  assert.ok(pingsSent >= 10, `${pingsSent} pings`);
  assert.ok(await waitFor(() => echoed.length === pingsSent * 'ping\n'.length), `${pingsSent} pings sent, ${echoed.length / 5} echoed`);
  assert.equal(echoed, 'ping\n'.repeat(pingsSent));
  assert.equal(await fetchName(port), 'r');
  bystander.socket.destroy();
  assert.ok(await waitFor(() => service.activeSessions === 0 && sockets.size === 0 && r().active === 0), 'no session or backend socket left');
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
