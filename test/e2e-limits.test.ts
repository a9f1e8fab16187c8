/**
 * Connection limits and the queue through the real `baton start`:
 *
 * - A connection storm against a real MariaDB with max_connections = 50:
 *   400 clients at once, each running a 200 ms query, through Baton with
 *   the server's `max_connections: 40` and `workers: 2` (the limit is the
 *   daemon's, shared by both workers). Every client succeeds, none sees
 *   error 1040, MariaDB's Max_used_connections stays at most 41 (40 plus the
 *   health check's own connection), and the queue metric rose and went back
 *   to 0. Then the same storm with the limit removed by a reload gets error
 *   1040: the limit is what saved it.
 * - `queue_timeout: 1s` against a server that holds its slots: the queued
 *   clients are closed after about a second, counted in
 *   baton_service_queue_timeouts_total and logged; once slots free, the next
 *   clients are served; `log_sessions` writes one line per session.
 * - `workers: 2` with a per-server limit of 10 and 100 clients at once: the
 *   server never sees more than 10 at a time, and every client is served.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createConnection } from 'mysql2/promise';
import { requireCapability } from '@baton/core';
import { startBaton, type BatonProcess } from './helpers/baton.js';
import { mariadbCapability, startMariaDb, ADMIN } from './helpers/mariadb.js';
import { freePort } from './helpers/ports.js';
import { api } from './helpers/admin.js';
import { sample, sum } from './helpers/metrics.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
const APP = { user: 'app', password: 'app-pw' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metrics(baton: BatonProcess): Promise<string> {
  return (await fetch(`${baton.adminUrl}/metrics`)).text();
}

/** 400 clients at once: each logs in through `port`, runs SELECT SLEEP(0.2), disconnects. Resolves with the error codes seen (ok: 'ok'). */
async function storm(port: number, clients = 400): Promise<Map<string, number>> {
  const outcomes = await Promise.all(
    Array.from({ length: clients }, async () => {
      try {
        const conn = await createConnection({ host: '127.0.0.1', port, ...APP, connectTimeout: 30_000 });
        try {
          await conn.query('SELECT SLEEP(0.2)');
        } finally {
          await conn.end().catch(() => conn.destroy());
        }
        return 'ok';
      } catch (err) {
        const e = err as { code?: string; errno?: number; message: string };
        return e.errno === 1040 ? 'ER_CON_COUNT_ERROR' : (e.code ?? e.message);
      }
    }),
  );
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return counts;
}

test('a storm of 400 clients at a MariaDB with max_connections 50: with a limit of 40 every client succeeds; without it, error 1040', { timeout: 180_000 }, async (t) => {
  const cap = mariadbCapability();
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const db = await startMariaDb({ users: [HCHECK, APP], extraArgs: ['--max-connections=50'] });
  cleanup.push(() => db.stop());
  const port = await freePort();
  const config = (limit: string) => `node: limits
workers: ${process.env.W ?? 2}
shutdown_timeout: 1s
services:
  - name: db
    listen: 127.0.0.1:${port}
    balance: roundrobin
    queue_timeout: 10s
    health: { check: mysql, interval: 500ms, timeout: 2s, rise: 1, fall: 2, user: ${HCHECK.user}, password_env: HCHECK_PW }
    servers:
      - { name: db1, address: 127.0.0.1:${db.port}${limit} }
`;
  const baton = await startBaton(config(', max_connections: 40'), { env: { HCHECK_PW: HCHECK.password } });
  cleanup.push(() => baton.stop());
  await baton.waitForLog(/server up.*db1|worker started.*index=1/);
  // Wait for the check's verdict: the server takes clients.
  for (let i = 0; i < 100; i++) {
    const st = (await api(baton.adminUrl, '/api/status')).json as { services: Array<{ servers: Array<{ health: string }> }> };
    if (st.services[0]!.servers[0]!.health === 'up') break;
    await sleep(100);
  }
  // The test's own admin connection would count in Max_used_connections: it is closed during the storm.
  await db.admin.close();

  // Sample the queue length while the storm runs.
  let maxQueued = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxQueued = Math.max(maxQueued, sample(await metrics(baton), 'baton_service_queue_length', { service: 'db' }) ?? 0);
      await sleep(50);
    }
  })();
  const started = performance.now();
  const limited = await storm(port);
  const tookMs = performance.now() - started;
  sampling = false;
  await sampler;

  assert.deepEqual([...limited], [['ok', 400]], `every client succeeds (took ${Math.round(tookMs)} ms)`);
  const used = await maxUsedConnections(db.port);
  assert.ok(used <= 41, `Max_used_connections ${used} <= 41`);
  assert.ok(maxQueued > 0, 'the queue rose');
  const text = await metrics(baton);
  assert.equal(sample(text, 'baton_service_queue_length', { service: 'db' }), 0, 'and fell back to 0');
  assert.ok((sample(text, 'baton_service_queue_seconds_count', { service: 'db' }) ?? 0) > 0, 'queued clients are in the wait histogram');
  assert.equal(sum(text, 'baton_service_queue_timeouts_total', { service: 'db' }), 0);
  assert.equal(sample(text, 'baton_server_max_connections', { service: 'db', server: 'db1' }), 40);
  t.diagnostic(`limited storm: 400 ok in ${Math.round(tookMs)} ms, Max_used_connections ${used}, queue peaked at ${maxQueued}`);

  // The same storm with the limit removed: MariaDB refuses the excess.
  const reloaded = baton.logs.length;
  baton.writeConfig(config(''));
  baton.signal('SIGHUP');
  await baton.waitForLog(/config reloaded/, 10_000, reloaded);
  const unlimited = await storm(port);
  t.diagnostic(`unlimited storm: ${JSON.stringify([...unlimited])}`);
  assert.ok((unlimited.get('ER_CON_COUNT_ERROR') ?? 0) > 0, `without the limit MariaDB answers 1040: ${JSON.stringify([...unlimited])}`);
});

async function maxUsedConnections(port: number): Promise<number> {
  const conn = await createConnection({ host: '127.0.0.1', port, user: ADMIN.user, password: ADMIN.password });
  try {
    const [rows] = await conn.query("SHOW GLOBAL STATUS LIKE 'Max_used_connections'");
    return Number((rows as Array<{ Value: string }>)[0]!.Value);
  } finally {
    await conn.end();
  }
}

/** A server that accepts and holds every connection, writing one line, until release(); counts how many it held at once. */
async function holdingServer() {
  const sockets = new Set<net.Socket>();
  let peak = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    peak = Math.max(peak, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('hello\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    get peak() {
      return peak;
    },
    release(n = sockets.size) {
      for (const s of [...sockets].slice(0, n)) s.destroy();
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A client that records the first line, or null when closed without one, and when it closed. */
function client(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  let data = '';
  const state = { closedAt: 0 };
  const line = new Promise<string | null>((resolve) => {
    socket.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) resolve(data.slice(0, data.indexOf('\n')));
    });
    socket.on('close', () => {
      state.closedAt = performance.now();
      resolve(null);
    });
  });
  return { socket, line, state };
}

test('queue_timeout 1s against a server that holds its slots: queued clients closed after about 1 s, counted; the next ones served once slots free', { timeout: 60_000 }, async () => {
  const backend = await holdingServer();
  cleanup.push(() => backend.close());
  const port = await freePort();
  const baton = await startBaton(`node: limits
workers: 1
shutdown_timeout: 1s
services:
  - name: q
    listen: 127.0.0.1:${port}
    queue_timeout: 1s
    log_sessions: true
    servers:
      - { name: s1, address: 127.0.0.1:${backend.port}, max_connections: 2 }
`);
  cleanup.push(() => baton.stop());
  const holders = [client(port), client(port)];
  assert.deepEqual(await Promise.all(holders.map((c) => c.line)), ['hello', 'hello']);
  const t0 = performance.now();
  const queued = [client(port), client(port), client(port)];
  assert.deepEqual(await Promise.all(queued.map((c) => c.line)), [null, null, null], 'queued clients are closed, never served');
  for (const q of queued) {
    const waited = q.state.closedAt - t0;
    assert.ok(waited >= 900 && waited < 3000, `closed after ${Math.round(waited)} ms`);
  }
  assert.equal(backend.peak, 2);
  const text = await metrics(baton);
  assert.equal(sum(text, 'baton_service_queue_timeouts_total', { service: 'q' }), 3);
  await baton.waitForLog(/session queue-timeout/);
  const status = (await api(baton.adminUrl, '/api/status')).json as { services: Array<{ queue_timeouts: number; queued: number; servers: Array<{ active: number; max_connections: number }> }> };
  assert.equal(status.services[0]!.queue_timeouts, 3);
  assert.equal(status.services[0]!.servers[0]!.max_connections, 2);

  // Slots free: the next clients are served.
  backend.release();
  await Promise.all(holders.map((h) => new Promise((r) => h.socket.once('close', r))));
  const next = [client(port), client(port)];
  assert.deepEqual(await Promise.all(next.map((c) => c.line)), ['hello', 'hello']);

  // log_sessions: one line per session at its close, with the queue time and the reason.
  const lines = baton.logs.filter((l) => l.includes('session closed'));
  assert.ok(lines.length >= 5, `a line per closed session: ${lines.length}`);
  assert.ok(lines.some((l) => /detail="queue timeout"/.test(l) && /queue_ms=(9\d\d|1\d\d\d)/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /server=s1/.test(l) && /connect_ms=\d/.test(l) && /bytes_out=6/.test(l)), lines.join('\n'));
});

test('workers: 2, a server limit of 10 and 100 clients at once: never more than 10 at the server, every client served', { timeout: 60_000 }, async () => {
  // Each connection is held 200 ms, then ended by the server. It counts as
  // open here until the server ends it: Baton's session lasts longer (until
  // the FINs have crossed), so this count never exceeds Baton's own, while
  // the socket's 'close' event may be handled after the next accept.
  let open = 0;
  let peak = 0;
  let served = 0;
  const server = net.createServer((socket) => {
    open++;
    peak = Math.max(peak, open);
    socket.on('error', () => undefined);
    setTimeout(() => {
      served++;
      open--;
      socket.end('done\n');
    }, 200);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  const port = await freePort();
  const baton = await startBaton(`node: limits
workers: 2
shutdown_timeout: 1s
services:
  - name: w
    listen: 127.0.0.1:${port}
    queue_timeout: 20s
    servers:
      - { name: s1, address: 127.0.0.1:${(server.address() as net.AddressInfo).port}, max_connections: 10 }
`);
  cleanup.push(() => baton.stop());
  await baton.waitForLog(/worker started.*index=1/);
  await baton.waitForLog(/worker started.*index=0/);
  const lines = await Promise.all(Array.from({ length: 100 }, () => client(port).line));
  assert.equal(lines.filter((l) => l === 'done').length, 100, 'every client served');
  assert.equal(served, 100);
  assert.ok(peak <= 10, `the server saw ${peak} at once`);
  assert.equal(peak, 10, 'and the limit was reached');
});
