/**
 * End to end through the real `baton start`: three backends that answer
 * with their own name behind the read port (round robin) and the write port
 * (writer); a backend killed; the writer moved by a reload.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBaton, type BatonProcess } from './helpers/baton.js';
import { fetchName, nameBackend, openSession, tally, times, type Backend } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

function config(readPort: number, writePort: number, adminPort: number, backends: Backend[], writerServers = backends): string {
  const list = (bs: Backend[]) => bs.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n');
  return `
node: e2e
admin: { listen: 127.0.0.1:${adminPort} }
workers: 1
shutdown_timeout: 2s
services:
  - name: read
    listen: 127.0.0.1:${readPort}
    balance: roundrobin
    retries: 2
    connect_timeout: 1s
    servers:
${list(backends)}
  - name: write
    listen: 127.0.0.1:${writePort}
    balance: writer
    writer: { pick: first, failback: false, on_change: close }
    servers:
${list(writerServers)}
`;
}

test('read port spreads 100/100/100, survives a dead backend; write port goes to one writer, which a reload moves', async () => {
  const backends = await Promise.all(['db1', 'db2', 'db3'].map((n) => nameBackend(n)));
  cleanup.push(() => Promise.all(backends.map((b) => b.close())));
  const [readPort, writePort, adminPort] = await freePorts(3);
  const baton: BatonProcess = await startBaton(config(readPort!, writePort!, adminPort!, backends));
  cleanup.push(() => baton.stop());

  const first = await times(300, 10, () => fetchName(readPort!));
  assert.deepEqual(tally(first), { db1: 100, db2: 100, db3: 100 });

  await backends[2]!.close();
  const second = await times(300, 10, () => fetchName(readPort!));
  const counts = tally(second);
  assert.equal(second.length, 300);
  assert.equal((counts.db1 ?? 0) + (counts.db2 ?? 0), 300, `every connection must succeed on db1/db2: ${JSON.stringify(counts)}`);

  const writes = await times(100, 10, () => fetchName(writePort!));
  assert.deepEqual(tally(writes), { db1: 100 });

  // Hold sessions to the writer, then name another writer: the reload drops
  // db1 from the write service, so db2 becomes the writer and db1's write
  // sessions are closed (on_change: close). Read sessions are untouched.
  const held = await Promise.all([openSession(writePort!), openSession(writePort!)]);
  const readHeld = await openSession(readPort!);
  const mark = baton.logs.length;
  baton.writeConfig(config(readPort!, writePort!, adminPort!, backends, [backends[1]!, backends[0]!].slice(0, 1)));
  baton.signal('SIGHUP');
  await baton.waitForLog(/config reloaded/, 5000, mark);
  await Promise.all(held.map((h) => h.closed));
  assert.equal(await fetchName(writePort!), 'db2');
  assert.equal(readHeld.socket.destroyed, false, 'the read session survives the writer move');
  readHeld.socket.destroy();
  assert.ok(baton.logs.some((l) => /writer changed service=write from=db1 to=db2/.test(l)));
  assert.equal(await baton.stop(), 0);
});
