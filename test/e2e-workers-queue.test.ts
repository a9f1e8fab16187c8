/**
 * `workers: 2` on the native engine: the daemon holds every listening
 * socket, so clients queued in the kernel survive workers dying and a
 * reload. Both workers are stopped (SIGSTOP: they accept nothing), clients
 * connect and wait in the queue, a reload keeps the address, both workers
 * are killed and restarted: every queued client is then served.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBaton } from './helpers/baton.js';
import { nameBackend, sleep, type Backend } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';
import { childPids } from './helpers/admin.js';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

function config(port: number, backends: Backend[]): string {
  return `
node: q
workers: 2
engine: native
shutdown_timeout: 1s
services:
  - name: q
    listen: 127.0.0.1:${port}
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`;
}

/** Connects now; resolves with the first line the relay passes on, or an error name. */
function queuedClient(port: number): { connected: Promise<void>; answer: Promise<string> } {
  const s = net.connect({ port, host: '127.0.0.1' });
  let data = '';
  const connected = new Promise<void>((r) => s.once('connect', () => r()));
  const answer = new Promise<string>((resolve) => {
    const timer = setTimeout(() => (s.destroy(), resolve('timeout')), 20_000);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) {
        clearTimeout(timer);
        s.end();
        resolve(data.slice(0, data.indexOf('\n')));
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => (clearTimeout(timer), resolve(err.code ?? 'error')));
    s.on('close', () => (clearTimeout(timer), resolve(data ? data : 'closed')));
  });
  return { connected, answer };
}

test('workers: 2, native: clients queued while every worker is stopped, then killed, and a reload runs, are all served', { timeout: 60_000 }, async () => {
  const b1 = await nameBackend('b1');
  const b2 = await nameBackend('b2');
  cleanup.push(() => b1.close(), () => b2.close());
  const [port] = await freePorts(1);
  const baton = await startBaton(config(port!, [b1]));
  cleanup.push(() => baton.stop());
  const workers = childPids(baton.pid);
  assert.equal(workers.length, 2);

  for (const pid of workers) process.kill(pid, 'SIGSTOP');
  const clients = Array.from({ length: 20 }, () => queuedClient(port!));
  // The kernel completes the handshakes: the clients wait in the accept queue.
  await Promise.all(clients.map((c) => c.connected));

  // A reload that keeps the address (a server added) while the clients wait.
  baton.writeConfig(config(port!, [b1, b2]));
  const mark = baton.logs.length;
  baton.signal('SIGHUP');
  for (const pid of workers) process.kill(pid, 'SIGKILL');
  await baton.waitForLog(/worker started/, 10_000, mark);
  await sleep(300);

  const answers = await Promise.all(clients.map((c) => c.answer));
  assert.deepEqual(
    answers.filter((a) => a !== 'b1' && a !== 'b2'),
    [],
    `every queued client is served: ${JSON.stringify(answers)}`,
  );
});
