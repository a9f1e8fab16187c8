/**
 * Connection limits and the queue, on the native engine over real loopback
 * sockets (a Service driven directly), plus the counts themselves: a shared
 * count taken from several threads at once never passes its limit, and a
 * dead worker's slots are given back.
 *
 * The backends here hold every connection open until the test ends it, so a
 * server's slots stay taken exactly as long as the test wants.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { LocalSlotCount, SharedSlotCount, reclaimWorker } from '../src/limits.js';
import { Service, type ServiceSpec } from '../src/index.js';
import { nameBackend, serviceSpec, sleep, waitFor, type Backend } from './helpers.js';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function backends(names: string[]): Promise<Backend[]> {
  const list = await Promise.all(names.map((n) => nameBackend(n)));
  for (const b of list) cleanup.push(() => b.close());
  return list;
}

async function start(spec: ServiceSpec): Promise<{ service: Service; port: number }> {
  const service = new Service(spec, { engine: 'native' });
  await service.listen();
  cleanup.push(() => service.destroySessions('test over'));
  cleanup.push(() => service.stopListening());
  return { service, port: service.boundPort! };
}

/** A client that collects what arrives; `name` resolves with the first line (the backend's name), or null if closed first. */
function client(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const state = { data: '', closed: false, closedAt: 0 };
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  const name = new Promise<string | null>((resolve) => {
    socket.on('data', (d: string) => {
      state.data += d;
      const nl = state.data.indexOf('\n');
      if (nl >= 0) resolve(state.data.slice(0, nl));
    });
    socket.on('close', () => {
      state.closed = true;
      state.closedAt = performance.now();
      resolve(null);
    });
  });
  cleanup.push(() => socket.destroy());
  return { socket, state, name };
}

test('counts: a local count stops at its limit; add() counts past it; give() frees', () => {
  const c = new LocalSlotCount();
  assert.equal(c.take(2), true);
  assert.equal(c.take(2), true);
  assert.equal(c.take(2), false);
  c.add();
  assert.equal(c.taken, 3);
  c.give();
  c.give();
  assert.equal(c.take(2), true);
});

test('counts: four threads taking one shared count at once never pass the limit, and every take is given back', async () => {
  const cells = new Int32Array(new SharedArrayBuffer(4 * 16));
  // Thread i uses cell 0 (daemon-wide) and cell 1+i (its own); cell 8 records the highest count any thread saw after a take.
  const code = `
    const { workerData } = require('node:worker_threads');
    const { cells, index, rounds, limit } = workerData;
    for (let r = 0; r < rounds; r++) {
      let seen = Atomics.load(cells, 0);
      for (;;) {
        if (seen >= limit) break;
        const before = Atomics.compareExchange(cells, 0, seen, seen + 1);
        if (before === seen) {
          Atomics.add(cells, 1 + index, 1);
          const now = Atomics.load(cells, 0);
          for (let m = Atomics.load(cells, 8); now > m; m = Atomics.load(cells, 8)) Atomics.compareExchange(cells, 8, m, now);
          Atomics.sub(cells, 0, 1);
          Atomics.sub(cells, 1 + index, 1);
          break;
        }
        seen = before;
      }
    }`;
  // The same algorithm as SharedSlotCount.take (checked on one thread just below), run hot on four threads.
  const limit = 3;
  const workers = [0, 1, 2, 3].map((index) => new Worker(code, { eval: true, workerData: { cells, index, rounds: 200_000, limit } }));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  assert.ok(Atomics.load(cells, 8) <= limit, `highest count seen ${Atomics.load(cells, 8)} > ${limit}`);
  assert.ok(Atomics.load(cells, 8) >= 2, 'the threads did overlap');
  assert.equal(Atomics.load(cells, 0), 0);

  const shared = new SharedSlotCount(cells, 0, 1);
  assert.equal(shared.take(2), true);
  assert.equal(shared.take(2), true);
  assert.equal(shared.take(2), false);
  assert.equal(shared.taken, 2);
  assert.equal(cells[1], 2, "the worker's own cell follows");
});

test('counts: what a dead worker held is given back to the daemon-wide count', () => {
  const cells = new Int32Array(new SharedArrayBuffer(4 * 8));
  const a = new SharedSlotCount(cells, 0, 1);
  const b = new SharedSlotCount(cells, 0, 2);
  a.take(10);
  a.take(10);
  b.take(10);
  assert.equal(a.taken, 3);
  assert.equal(reclaimWorker(cells, [[0, 1]]), 2);
  assert.equal(b.taken, 1);
  assert.equal(cells[1], 0);
});

test('roundrobin skips a full server and comes back to it once a slot frees', async () => {
  const [a, b] = await backends(['a', 'b']);
  const { service, port } = await start(serviceSpec([{ name: 'a', port: a!.port, maxConnections: 1 }, { name: 'b', port: b!.port }]));
  const first = client(port);
  const second = client(port);
  assert.deepEqual([await first.name, await second.name].sort(), ['a', 'b']);
  // a is full: the next clients all go to b, none waits.
  const more = [client(port), client(port), client(port)];
  assert.deepEqual(await Promise.all(more.map((c) => c.name)), ['b', 'b', 'b']);
  assert.equal(service.counters().queued, 0);
  // a's session ends: a takes clients again.
  (first.state.data.startsWith('a') ? first : second).socket.destroy();
  assert.ok(await waitFor(() => service.counters().servers.find((s) => s.name === 'a')!.active === 0));
  const names = await Promise.all([client(port), client(port)].map((c) => c.name));
  assert.ok(names.includes('a'), `a is picked again: ${names}`);
});

test('every server full: clients wait in arrival order and are served as slots free', async () => {
  const [a] = await backends(['a']);
  const { service, port } = await start(serviceSpec([{ name: 'a', port: a!.port, maxConnections: 2 }], { queueTimeoutMs: 10_000 }));
  const holders = [client(port), client(port)];
  assert.deepEqual(await Promise.all(holders.map((c) => c.name)), ['a', 'a']);
  const waiting = [client(port), client(port), client(port)];
  assert.ok(await waitFor(() => service.counters().queued === 3));
  await sleep(100);
  assert.ok(waiting.every((c) => c.state.data === '' && !c.state.closed), 'queued clients get nothing and stay open');
  assert.equal(a!.sockets.size, 2, 'the server never has more than its limit');
  // One slot frees: the oldest queued client, and only it, is served.
  holders[0]!.socket.destroy();
  assert.equal(await waiting[0]!.name, 'a');
  await sleep(100);
  assert.equal(waiting[1]!.state.data, '');
  assert.equal(service.counters().queued, 2);
  holders[1]!.socket.destroy();
  assert.equal(await waiting[1]!.name, 'a');
  assert.equal(a!.sockets.size, 2);
  const c = service.counters();
  assert.equal(c.queueWait.count, 2, 'two clients left the queue');
  assert.equal(c.queueWait.buckets.reduce((x, y) => x + y, 0), 2);
});

test('queue timeout: queued clients are closed after it, counted; a full server is not marked down', async () => {
  const [a] = await backends(['a']);
  const { service, port } = await start(serviceSpec([{ name: 'a', port: a!.port, maxConnections: 1 }], { queueTimeoutMs: 300 }));
  const holder = client(port);
  assert.equal(await holder.name, 'a');
  const t0 = performance.now();
  const waiting = [client(port), client(port)];
  assert.deepEqual(await Promise.all(waiting.map((c) => c.name)), [null, null]);
  for (const w of waiting) {
    const waited = w.state.closedAt - t0;
    assert.ok(waited >= 250 && waited < 2000, `closed after ${waited} ms`);
  }
  const c = service.counters();
  assert.equal(c.queueTimeouts, 2);
  assert.equal(c.queued, 0);
  assert.equal(c.servers[0]!.state, 'up');
  assert.equal(c.servers[0]!.active, 1, "the holder's session is untouched");
});

test('writer and source keep their server: full means wait, never spill to another', async () => {
  for (const balance of ['writer', 'source'] as const) {
    const [a, b] = await backends([`${balance}-a`, `${balance}-b`]);
    const { service, port } = await start(
      serviceSpec([{ name: 'a', port: a!.port, maxConnections: 1 }, { name: 'b', port: b!.port, maxConnections: 1 }], { balance, queueTimeoutMs: 10_000 }),
    );
    if (balance === 'writer') service.setWriter('a');
    const first = client(port);
    const name = await first.name;
    // All clients come from 127.0.0.1, so source hashes them all to the same server as the first.
    const second = client(port);
    assert.ok(await waitFor(() => service.counters().queued === 1), `${balance}: the second client waits`);
    assert.equal(second.state.data, '');
    first.socket.destroy();
    assert.equal(await second.name, name, `${balance}: served by the same server once it has room`);
  }
});

test('backup servers take no overflow while a primary is up; a primary going to maint sends its queue on', async () => {
  const [p, bk] = await backends(['p', 'bk']);
  const { service, port } = await start(
    serviceSpec([{ name: 'p', port: p!.port, maxConnections: 1 }, { name: 'bk', port: bk!.port, backup: true }], { queueTimeoutMs: 10_000 }),
  );
  const holder = client(port);
  assert.equal(await holder.name, 'p');
  const waiting = client(port);
  assert.ok(await waitFor(() => service.counters().queued === 1));
  await sleep(50);
  assert.equal(waiting.state.data, '', 'the backup did not take the overflow');
  // The primary goes to maintenance: its session is closed, the backup becomes eligible, the queue moves there.
  service.setServerState('p', 'maint');
  assert.equal(await waiting.name, 'bk');
  assert.equal(await holder.name, 'p');
  assert.ok(await waitFor(() => holder.state.closed));
});

test('drain keeps queued clients off the drained server; they go to one that comes up', async () => {
  const [a, b] = await backends(['a', 'b']);
  const { service, port } = await start(serviceSpec([{ name: 'a', port: a!.port, maxConnections: 1 }, { name: 'b', port: b!.port }], { queueTimeoutMs: 10_000 }));
  service.setServerState('b', 'down');
  const holder = client(port);
  assert.equal(await holder.name, 'a');
  const waiting = client(port);
  assert.ok(await waitFor(() => service.counters().queued === 1));
  service.setServerState('a', 'drain');
  holder.socket.destroy();
  await sleep(100);
  assert.equal(waiting.state.data, '', 'a freed a slot but is drained: the client keeps waiting');
  service.setServerState('b', 'up');
  assert.equal(await waiting.name, 'b');
});

test('service max_connections: the listener stops accepting at the limit and resumes below it', async () => {
  const [a] = await backends(['a']);
  const { service, port } = await start(serviceSpec([{ name: 'a', port: a!.port }], { maxConnections: 2 }));
  const first = [client(port), client(port)];
  assert.deepEqual(await Promise.all(first.map((c) => c.name)), ['a', 'a']);
  const third = client(port);
  await sleep(150);
  assert.equal(third.state.data, '', 'the third client waits in the listen backlog');
  assert.equal(service.counters().active, 2);
  assert.equal(service.counters().total, 2, 'it was not even accepted');
  first[0]!.socket.destroy();
  assert.equal(await third.name, 'a');
  assert.equal(service.counters().total, 3);
});

test('a limit added by a reload counts the sessions already open', async () => {
  const [a] = await backends(['a']);
  const spec = serviceSpec([{ name: 'a', port: a!.port }], { queueTimeoutMs: 10_000 });
  const { service, port } = await start(spec);
  const open = [client(port), client(port)];
  await Promise.all(open.map((c) => c.name));
  service.update({ ...spec, servers: spec.servers.map((s) => ({ ...s, maxConnections: 2 })) });
  const next = client(port);
  assert.ok(await waitFor(() => service.counters().queued === 1), 'two open sessions fill a limit of two');
  open[0]!.socket.destroy();
  assert.equal(await next.name, 'a');
  // The limit removed: nobody waits any more.
  service.update({ ...spec });
  assert.equal(await client(port).name, 'a');
});
