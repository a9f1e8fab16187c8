/**
 * tcp, http and mysql probes against real sockets on 127.0.0.1: refused,
 * accepted, a clustercheck-style responder, and a server that accepts and
 * never answers (the hang must end as a timeout at the deadline).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTcpProbe } from '../src/tcp.js';
import { createHttpProbe } from '../src/http.js';
import { createMysqlProbe } from '../src/mysql.js';
import { HealthScheduler } from '../src/scheduler.js';
import type { CheckResult } from '../src/probe.js';

const host = '127.0.0.1';
const sockets = new Set<Socket>();
const servers: Array<{ close(): void }> = [];
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on: bind, read the port, close. */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((r) => s.listen(0, host, () => r((s.address() as AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return port;
}

/** Accepts and never writes a byte. */
async function silentServer(): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  return listen(server);
}

/** Aborts after `ms` like the scheduler's deadline. */
function deadline(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

function reasonOf(r: CheckResult): string {
  return r.ok ? 'ok' : r.reason;
}

test('tcp: accepting port is ok, closed port is l4-refused', async () => {
  const open = await silentServer();
  const probe = createTcpProbe({ host, port: open });
  assert.equal(reasonOf(await probe.check(deadline(1000))), 'ok');
  const refused = await createTcpProbe({ host, port: await closedPort() }).check(deadline(1000));
  assert.equal(reasonOf(refused), 'l4-refused');
  assert.match(!refused.ok ? refused.detail : '', /ECONNREFUSED/);
});

test('tcp: an abort before the connect completes is l4-timeout', async () => {
  const port = await silentServer();
  const controller = new AbortController();
  const pending = createTcpProbe({ host, port }).check(controller.signal);
  controller.abort(); // same tick: the connect cannot have completed yet
  assert.equal(reasonOf(await pending), 'l4-timeout');
});

test('http: a clustercheck-style responder (200 synced, 503 otherwise)', async () => {
  let synced = true;
  const server = createHttpServer((_req, res) => {
    if (synced) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('Galera cluster node is synced.\r\n');
    } else {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('Galera cluster node is not synced.\r\n');
    }
  });
  const port = await listen(server);
  const probe = createHttpProbe({ host, port }, { path: '/', expect: 'is synced' });
  assert.equal(reasonOf(await probe.check(deadline(1000))), 'ok');
  synced = false;
  const down = await probe.check(deadline(1000));
  assert.equal(reasonOf(down), 'l7-status');
  assert.match(!down.ok ? down.detail : '', /status 503, want 200: Galera cluster node is not synced/);
  // The right status but the wrong body.
  const wrongBody = await createHttpProbe({ host, port }, { status: 503, expect: 'is synced.' }).check(deadline(1000));
  assert.equal(reasonOf(wrongBody), 'l7-expect');
  assert.equal(reasonOf(await createHttpProbe({ host, port }, { status: 503 }).check(deadline(1000))), 'ok');
});

test('http: refused is l4-refused; a server that accepts and never answers is l7-timeout at the timeout', async () => {
  assert.equal(reasonOf(await createHttpProbe({ host, port: await closedPort() }).check(deadline(1000))), 'l4-refused');
  const port = await silentServer();
  const started = performance.now();
  const r = await createHttpProbe({ host, port }).check(deadline(300));
  const took = performance.now() - started;
  assert.equal(reasonOf(r), 'l7-timeout');
  assert.ok(took >= 290 && took < 600, `settled at the deadline (${took.toFixed(0)} ms)`);
});

test('mysql: a server that accepts and never sends the handshake is l7-timeout at the timeout; refused is l4-refused', async () => {
  const port = await silentServer();
  const probe = createMysqlProbe({ host, port }, { user: 'x', password: 'y' });
  const started = performance.now();
  const r = await probe.check(deadline(300));
  const took = performance.now() - started;
  assert.equal(reasonOf(r), 'l7-timeout');
  assert.ok(took >= 290 && took < 600, `settled at the deadline (${took.toFixed(0)} ms)`);
  await probe.close();
  const refused = createMysqlProbe({ host, port: await closedPort() }, { user: 'x', password: 'y' });
  assert.equal(reasonOf(await refused.check(deadline(1000))), 'l4-refused');
  await refused.close();
});

test('scheduler on the real clock: a hanging server times out at timeout and does not delay another server', async () => {
  const hangPort = await silentServer();
  const okServer = createHttpServer((_req, res) => res.end('ok'));
  const okPort = await listen(okServer);
  const results: Array<{ server: string; at: number; result: CheckResult }> = [];
  const t0 = performance.now();
  const timing = { intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1 };
  const scheduler = new HealthScheduler({
    servers: [
      { name: 'hang', probe: createHttpProbe({ host, port: hangPort }), timing },
      { name: 'fine', probe: createHttpProbe({ host, port: okPort }), timing },
    ],
    onResult: (server, result) => results.push({ server, at: performance.now() - t0, result }),
  });
  scheduler.start();
  await new Promise((r) => setTimeout(r, 1100));
  await scheduler.stop();
  const hang = results.filter((r) => r.server === 'hang');
  const fine = results.filter((r) => r.server === 'fine');
  assert.ok(hang.length >= 4, `hang checked ${hang.length} times`);
  assert.ok(hang.every((r) => reasonOf(r.result) === 'l7-timeout'));
  assert.ok(hang.every((r) => r.result.ms >= 140 && r.result.ms < 400), `timeouts at ~150 ms: ${hang.map((r) => r.result.ms).join(',')}`);
  // fine starts at 100 ms (staggered), then every 200 ms: about 5 checks in 1.1 s, all ok and quick.
  assert.ok(fine.length >= 4, `fine checked ${fine.length} times`);
  assert.ok(fine.every((r) => r.result.ok));
  const gaps = fine.slice(1).map((r, i) => r.at - fine[i]!.at);
  assert.ok(gaps.every((g) => g > 150 && g < 300), `fine keeps its 200 ms cadence: ${gaps.map((g) => g.toFixed(0)).join(',')}`);
  assert.equal(scheduler.get('fine')?.state, 'up');
  assert.equal(scheduler.get('hang')?.state, 'down');
});
